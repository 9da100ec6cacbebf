import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { filterMatches, looksLikeSite, parseFilter, parseNamedCode, parseSite, type Site } from '../../../src/dns/sites.js';

function site(text: string): Site {
  const r = parseSite(text);
  if (!r.ok) throw new Error(`${text}: ${r.problem.message}`);
  return r.value;
}

describe("postscreen's list entries", () => {
  test('zone, filter and weight, as postscreen_dnsbl_sites writes them', () => {
    const zen = site('zen.spamhaus.org=127.0.0.[2..11]*3');
    assert.equal(zen.zone, 'zen.spamhaus.org');
    assert.equal(zen.weight, 3);
    assert.equal(zen.filter?.text, '127.0.0.[2..11]');
    const dnswl = site('list.dnswl.org=127.0.[0..255].[1..3]*-2');
    assert.equal(dnswl.weight, -2);
    assert.deepEqual(dnswl.filter?.octets, [[[127, 127]], [[0, 0]], [[0, 255]], [[1, 3]]]);
  });

  test('no filter: any answer that is no error; no weight: 1; decimals allowed; the zone lower-cased', () => {
    assert.deepEqual(site('bl.example.ORG.'), { zone: 'bl.example.org', filter: null, weight: 1 });
    assert.equal(site('bl.example.org*0.5').weight, 0.5);
    assert.equal(site('bl.example.org*+2').weight, 2);
    assert.equal(site('KEY123.zen.dq.spamhaus.net=127.0.0.[2;4..7;10]*4').zone, 'key123.zen.dq.spamhaus.net');
  });

  test('filters match each octet against numbers, lists and ranges', () => {
    const f = site('x.example=127.0.0.[2;4..7;10]').filter;
    assert.ok(f);
    const hits = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.7', '127.0.0.8', '127.0.0.10', '127.0.1.2', '10.0.0.2'].filter((x) => filterMatches(f, x));
    assert.deepEqual(hits, ['127.0.0.2', '127.0.0.4', '127.0.0.7', '127.0.0.10']);
    assert.equal(filterMatches(f, '127.0.0'), false);
  });

  test('mistakes are problems with an offset and a hint', () => {
    const problem = (text: string) => {
      const r = parseSite(text);
      assert.equal(r.ok, false, text);
      return r.ok ? null : [r.problem.message, r.problem.offset];
    };
    assert.deepEqual(problem('zen.spamhaus.org*x'), ['"x" is not a weight', 17]);
    assert.deepEqual(problem('zen.spamhaus.org*5000'), ['weight 5000 is out of range', 17]);
    assert.deepEqual(problem('zen=127.0.0.2'), ['"zen" is not a DNS list\'s zone', 0]);
    assert.deepEqual(problem('zen.spamhaus.org=127.0.0'), ['"127.0.0" is not an address filter', 17]);
    assert.deepEqual(problem('zen.spamhaus.org=127.0.0.[11..2]'), ['range 11..2 is empty', 25]);
    assert.deepEqual(problem('zen.spamhaus.org=127.0.0.2..11'), ['"127.0.0.2..11" is not an address filter', 17]);
    assert.deepEqual(problem('zen.spamhaus.org=127.0.0.256'), ['"256" is not an octet pattern', 25]);
    assert.deepEqual(problem('zen.spamhaus.org=127.0.0.[]'), ['"[]" is not an octet pattern', 25]);
  });

  test('named codes: a name and a filter, no weight', () => {
    const sbl = parseNamedCode('SBL=127.0.0.2');
    assert.ok(sbl.ok);
    assert.equal(sbl.value.name, 'sbl');
    assert.equal(parseNamedCode('xbl=127.0.0.[4..7]').ok, true);
    const weighted = parseNamedCode('sbl=127.0.0.2*3');
    assert.equal(weighted.ok ? '' : weighted.problem.message, 'a named code takes no weight');
    assert.equal(parseNamedCode('9x=127.0.0.2').ok, false);
    assert.equal(parseNamedCode('sbl').ok, false);
  });

  test('a site is told from a named code by the dot of its zone', () => {
    assert.equal(looksLikeSite('zen.spamhaus.org=127.0.0.2'), true);
    assert.equal(looksLikeSite('zen.spamhaus.org'), true);
    assert.equal(looksLikeSite('sbl=127.0.0.2'), false);
    assert.equal(parseFilter('127.0.0.2').ok, true);
  });
});
