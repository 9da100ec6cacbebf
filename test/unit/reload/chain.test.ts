import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { selectChainByName } from '../../../src/reload/chain.js';
import { accept, rules } from './helpers.js';

describe('selectChainByName', () => {
  const two = rules({ inbound: [{ action: accept }], submission: [{ action: accept }] });
  const one = rules({ main: [{ action: accept }] });
  const none = rules({});

  test('by name', () => {
    const r = selectChainByName('submission')(two);
    assert.equal(r.ok && r.value.name, 'submission');
    assert.deepEqual(selectChainByName('outbound')(two), { ok: false, error: 'chain "outbound" is not defined (chains: inbound, submission)' });
    assert.deepEqual(selectChainByName('x')(none), { ok: false, error: 'chain "x" is not defined: the rules define no chain' });
  });

  test('without a name: the only chain, or a clear refusal', () => {
    const r = selectChainByName(undefined)(one);
    assert.equal(r.ok && r.value.name, 'main');
    assert.deepEqual(selectChainByName(undefined)(two), {
      ok: false,
      error: 'the rules define 2 chains (inbound, submission): choose one with --chain NAME',
    });
    assert.deepEqual(selectChainByName(undefined)(none), { ok: false, error: 'the rules define no chain' });
  });
});
