import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import { checkSpf, type SpfResolver } from '../../../src/auth/spf.js';

/** A resolver over a table: records, or the error code thrown. */
function resolver(table: Readonly<Record<string, unknown>>): SpfResolver {
  return (name, rrtype) => {
    const v = table[`${rrtype} ${name}`];
    if (v === undefined) return Promise.reject(Object.assign(new Error('nxdomain'), { code: 'ENOTFOUND' }));
    if (typeof v === 'string') return Promise.reject(Object.assign(new Error(v), { code: v }));
    return Promise.resolve(v);
  };
}

const query = { ip: '192.0.2.7', sender: 'x@a.test', helo: 'h.test' };

describe('checkSpf', () => {
  test('RFC 7208 §4.6.4: 10 DNS-querying terms pass, the 11th is permerror; 2 void lookups pass, the 3rd is permerror', async () => {
    const chain = (n: number): Record<string, unknown> => {
      const t: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) t[`TXT l${i}.test`] = [[`v=spf1 include:l${i + 1}.test -all`]];
      t[`TXT l${n}.test`] = [['v=spf1 +all']];
      return t;
    };
    const ten = await checkSpf({ ...query, sender: 'x@l0.test' }, { resolver: resolver(chain(10)), hostname: 'mx' });
    assert.deepEqual([ten.result, ten.lookups], ['pass', 10]);
    const eleven = await checkSpf({ ...query, sender: 'x@l0.test' }, { resolver: resolver(chain(11)), hostname: 'mx' });
    assert.deepEqual([eleven.result, eleven.lookups], ['permerror', 11]);
    const voids = (n: number): Record<string, unknown> => ({
      'TXT a.test': [[`v=spf1 ${Array.from({ length: n }, (_, i) => `a:n${i}.test`).join(' ')} ip4:192.0.2.7 -all`]],
    });
    const two = await checkSpf(query, { resolver: resolver(voids(2)), hostname: 'mx' });
    assert.deepEqual([two.result, two.voidLookups], ['pass', 2]);
    const three = await checkSpf(query, { resolver: resolver(voids(3)), hostname: 'mx' });
    assert.deepEqual([three.result, three.voidLookups], ['permerror', 3]);
  });

  test('every DNS error but a void answer is temperror, in an include or a redirect too (§5.2, §6.1)', async () => {
    for (const code of ['ESERVFAIL', 'ECONNREFUSED', 'EREFUSED', 'ETIMEOUT', 'EBADRESP']) {
      for (const record of ['v=spf1 include:b.test -all', 'v=spf1 redirect=b.test']) {
        const v = await checkSpf(query, { resolver: resolver({ 'TXT a.test': [[record]], 'TXT b.test': code }), hostname: 'mx' });
        assert.equal(v.result, 'temperror', `${code} in ${record}`);
      }
    }
  });

  test('why the correction: mailauth 4.13.3 alone swallows SERVFAIL in an include and goes on to -all (fail)', async () => {
    const r = await mailauthSpf({ ...query, mta: 'mx', resolver: resolver({ 'TXT a.test': [['v=spf1 include:b.test -all']], 'TXT b.test': 'ESERVFAIL' }) } as Parameters<typeof mailauthSpf>[0]);
    assert.equal(r.status.result, 'fail', 'mailauth now gets this right: the correction in src/auth/spf.ts may go');
  });
});
