import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPolicyAddress, parsePolicyAddress } from '../../../src/policy/address.js';

describe('policy addresses', () => {
  test('unix and tcp forms round-trip', () => {
    for (const text of ['unix:/run/postgrey/postgrey.sock', 'tcp:127.0.0.1:10023', 'tcp:[::1]:10023', 'tcp:policy.example:12525']) {
      const r = parsePolicyAddress(text);
      assert.ok(r.ok, text);
      assert.equal(formatPolicyAddress(r.value), text);
    }
  });

  test('parsed values', () => {
    assert.deepEqual(parsePolicyAddress('tcp:[2001:db8::1]:10023'), { ok: true, value: { kind: 'tcp', host: '2001:db8::1', port: 10023 } });
    assert.deepEqual(parsePolicyAddress('unix:/x.sock'), { ok: true, value: { kind: 'unix', path: '/x.sock' } });
  });

  test('mistakes are values with a sentence', () => {
    const bad: [string, RegExp][] = [
      ['unix:relative/path', /absolute/],
      ['tcp:127.0.0.1', /bad port|expected/],
      ['tcp:::1:10023', /brackets/],
      ['tcp:[::1]10023', /expected tcp:\[IPv6\]:PORT/],
      ['tcp:host:0', /out of range/],
      ['tcp:host:70000', /out of range/],
      ['tcp::10023', /bad host/],
      ['inet:127.0.0.1:10023', /must start with/],
    ];
    for (const [text, re] of bad) {
      const r = parsePolicyAddress(text);
      assert.ok(!r.ok, text);
      assert.match(r.error, re, text);
    }
  });
});
