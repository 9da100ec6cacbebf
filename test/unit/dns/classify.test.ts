import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, likelyCause, type ListReading } from '../../../src/dns/classify.js';
import { parseNamedCode, parseSite, type NamedCode } from '../../../src/dns/sites.js';
import type { DnsOutcome } from '../../../src/dns/types.js';

const filterOf = (text: string) => {
  const r = parseSite(text);
  if (!r.ok) throw new Error(r.problem.message);
  return r.value.filter;
};
const code = (text: string): NamedCode => {
  const r = parseNamedCode(text);
  if (!r.ok) throw new Error(r.problem.message);
  return r.value;
};
const answer = (...records: string[]): DnsOutcome<'A'> => ({ kind: 'answer', records, ttlSeconds: 60 });

const zen: ListReading = {
  kind: 'address',
  filter: filterOf('zen.spamhaus.org=127.0.0.[2..11]'),
  codes: [code('sbl=127.0.0.2'), code('css=127.0.0.3'), code('xbl=127.0.0.[4..7]'), code('pbl=127.0.0.[10..11]')],
};
const any: ListReading = { kind: 'address', filter: null, codes: [] };
const dbl: ListReading = { kind: 'domain', filter: null, codes: [] };

describe('classify: listed, clear or error', () => {
  test('listed, with the named codes that matched', () => {
    assert.deepEqual(classify(answer('127.0.0.2', '127.0.0.4', '127.0.0.10'), zen), {
      status: 'listed',
      addresses: ['127.0.0.2', '127.0.0.4', '127.0.0.10'],
      codes: ['sbl', 'xbl', 'pbl'],
    });
    assert.deepEqual(classify(answer('127.0.0.2'), any), { status: 'listed', addresses: ['127.0.0.2'], codes: [] });
  });

  test('clear: NXDOMAIN, NODATA, or answers the filter leaves out', () => {
    assert.deepEqual(classify({ kind: 'nxdomain' }, zen), { status: 'clear' });
    assert.deepEqual(classify({ kind: 'nodata' }, zen), { status: 'clear' });
    assert.deepEqual(classify(answer('127.0.0.12'), zen), { status: 'clear' });
  });

  test('errors, never listings: outside 127/8, 127.255.255.0/24, 127.0.0.255; 127.0.1.255 from a domain list', () => {
    const verdict = (o: DnsOutcome<'A'>, list: ListReading) => {
      const v = classify(o, list);
      return v.status === 'error' ? `${v.error} ${v.detail}` : v.status;
    };
    assert.equal(verdict(answer('127.255.255.254'), any), 'list-refused 127.255.255.254');
    assert.equal(verdict(answer('127.255.255.252'), zen), 'list-refused 127.255.255.252');
    assert.equal(verdict(answer('127.255.255.255'), any), 'list-refused 127.255.255.255');
    assert.equal(verdict(answer('127.255.255.1'), any), 'list-refused 127.255.255.1');
    assert.equal(verdict(answer('127.0.0.255'), any), 'list-refused 127.0.0.255');
    assert.equal(verdict(answer('127.0.1.255'), dbl), 'list-refused 127.0.1.255');
    assert.equal(verdict(answer('127.0.1.255'), any), 'listed', 'from an address list it is an answer like any');
    assert.equal(verdict(answer('192.0.2.1'), any), 'not-loopback 192.0.2.1');
    assert.equal(verdict(answer('nonsense'), any), 'malformed nonsense');
    assert.equal(verdict({ kind: 'error', error: 'timeout', code: 'EDEADLINE' }, zen), 'timeout EDEADLINE');
    assert.equal(verdict({ kind: 'error', error: 'servfail', code: 'ESERVFAIL' }, zen), 'servfail ESERVFAIL');
    assert.equal(verdict({ kind: 'error', error: 'refused', code: 'EREFUSED' }, zen), 'refused EREFUSED');
  });

  test('a listing among refusals stands; a refusal the filter would leave out is still an error', () => {
    assert.equal(classify(answer('127.255.255.254', '127.0.0.2'), zen).status, 'listed');
    assert.equal(classify(answer('127.255.255.254'), zen).status, 'error');
  });

  test('every error has a likely cause to log', () => {
    assert.match(likelyCause('list-refused', '127.255.255.254'), /public or open resolver/);
    assert.match(likelyCause('list-refused', '127.0.0.255'), /quota/);
    assert.match(likelyCause('not-loopback', '192.0.2.1'), /NXDOMAIN/);
    for (const k of ['timeout', 'servfail', 'refused', 'unreachable', 'malformed', 'other'] as const) assert.ok(likelyCause(k, 'x').length > 10);
  });
});
