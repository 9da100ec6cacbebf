import { describe } from 'node:test';
import { MemoryGreylistStore } from '../../../src/store/memory.js';
import { defineStoreContract } from './store-contract.js';

describe('MemoryGreylistStore (reference model)', () => {
  defineStoreContract({ open: async () => new MemoryGreylistStore() });
});
