import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chain, HostHarness, line, pause, result, rules, TOKEN } from './helpers.js';

/** A link-connect and a connect request for session `n`, stamped at wall-clock `ms` (smtpd's timestamp). */
function connectAt(n: number, ms: number): string[] {
  const sid = (0x100000 + n).toString(16).padStart(16, '0');
  const ts = (ms / 1000).toFixed(6);
  return [
    `report|0.6|${ts}|smtp-in|link-connect|${sid}|mx${n}.example|pass|10.0.${n >> 8}.${n & 255}:4000|203.0.113.25:25`,
    `filter|0.6|${ts}|smtp-in|connect|${sid}|${TOKEN.connect}|mx${n}.example|10.0.${n >> 8}.${n & 255}`,
  ];
}

describe('host: a pause counts from smtpd timestamp', () => {
  test('requests read late (a connect burst) are released on time, not a pause after they were read', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: pause(1000), phase: 'connect' }])]));
    const sentAt = h.clock.now();
    // smtpd sent 100 connects at once; the filter only gets to them 300 ms later.
    h.clock.advance(300);
    for (let n = 0; n < 100; n++) h.feed(...connectAt(n, sentAt));
    assert.deepEqual(await h.advance(699), []);
    const out = await h.advance(1);
    assert.equal(out.length, 100);
    assert.ok(out.every((l) => l.endsWith(`|${TOKEN.connect}|proceed`)));
  });

  test('a request whose timestamp is not usable (here: hours ahead of the clock) gets the full pause', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: pause(1000), phase: 'connect' }])]));
    h.feed(line.connect(), line.request('connect', 'localhost|127.0.0.1'));
    assert.deepEqual(await h.advance(999), []);
    assert.deepEqual(await h.advance(1), [result('connect', 'proceed')]);
  });
});
