export * from '../model/select-chain.js';
