import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatResolverAddress, parseResolverAddress } from '../../../src/dns/resolver-address.js';
import { outcomeOfError } from '../../../src/dns/node-transport.js';

describe('a dedicated resolver address', () => {
  test('IPv4 or bracketed IPv6, port 53 unless given', () => {
    assert.deepEqual(parseResolverAddress('127.0.0.1:5353'), { ok: true, value: { host: '127.0.0.1', port: 5353 } });
    assert.deepEqual(parseResolverAddress('127.0.0.1'), { ok: true, value: { host: '127.0.0.1', port: 53 } });
    assert.deepEqual(parseResolverAddress('[::1]:5353'), { ok: true, value: { host: '::1', port: 5353 } });
    assert.deepEqual(parseResolverAddress('::1'), { ok: true, value: { host: '::1', port: 53 } });
  });

  test('host names, bad ports and junk are refused with a hint', () => {
    for (const s of ['localhost:53', '127.0.0.1:0', '127.0.0.1:65536', '[127.0.0.1]:53', '', '1.2.3.4:5:6']) {
      const r = parseResolverAddress(s);
      assert.equal(r.ok, false, s);
      if (!r.ok) assert.ok(r.problem.hint, s);
    }
  });

  test('formatted as node:dns takes it', () => {
    assert.equal(formatResolverAddress({ host: '127.0.0.1', port: 53 }), '127.0.0.1');
    assert.equal(formatResolverAddress({ host: '127.0.0.1', port: 5353 }), '127.0.0.1:5353');
    assert.equal(formatResolverAddress({ host: '::1', port: 53 }), '[::1]:53');
  });
});

describe("node:dns's errors as outcomes", () => {
  test('NXDOMAIN and NODATA are answers; the rest errors of a kind', () => {
    const kind = (code: string) => {
      const o = outcomeOfError(Object.assign(new Error(code), { code }));
      return o.kind === 'error' ? o.error : o.kind;
    };
    assert.deepEqual(
      ['ENOTFOUND', 'ENODATA', 'ETIMEOUT', 'ESERVFAIL', 'EREFUSED', 'ECONNREFUSED', 'EBADRESP', 'EFORMERR', 'ECANCELLED', 'EWHATEVER'].map(kind),
      ['nxdomain', 'nodata', 'timeout', 'servfail', 'refused', 'unreachable', 'malformed', 'malformed', 'timeout', 'other'],
    );
    assert.deepEqual(outcomeOfError('no object'), { kind: 'error', error: 'other', code: 'EUNKNOWN' });
  });
});
