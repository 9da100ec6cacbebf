import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dmarc as mailauthDmarc } from 'mailauth/lib/dmarc/index.js';
import { aligned, firstAligned } from '../../../../src/auth/dmarc/alignment.js';
import { evaluateDmarc } from '../../../../src/auth/dmarc/evaluate.js';
import { lookupDmarc } from '../../../../src/auth/dmarc/lookup.js';
import { organizationalDomain } from '../../../../src/auth/dmarc/org-domain.js';
import { parseDmarcRecord } from '../../../../src/auth/dmarc/record.js';
import type { SpfResolver } from '../../../../src/auth/spf.js';

/** TXT records by name; a string value is the error code thrown; absent names are NXDOMAIN. */
function resolver(table: Readonly<Record<string, readonly string[] | string>>): SpfResolver & { asked: string[] } {
  const asked: string[] = [];
  const r = (name: string, rrtype: string): Promise<unknown> => {
    asked.push(`${rrtype} ${name}`);
    const v = table[name];
    if (v === undefined) return Promise.reject(Object.assign(new Error('nxdomain'), { code: 'ENOTFOUND' }));
    if (typeof v === 'string') return Promise.reject(Object.assign(new Error(v), { code: v }));
    return Promise.resolve(v.map((t) => [t]));
  };
  return Object.assign(r, { asked });
}

describe('DMARC records (RFC 7489 §6.3)', () => {
  test('the tags, their defaults, and unknown tags ignored', () => {
    assert.deepEqual(parseDmarcRecord('v=DMARC1; p=reject'), { ok: true, record: { p: 'reject', sp: 'reject', adkim: 'r', aspf: 'r', pct: 100, rua: [], ignored: [] } });
    assert.deepEqual(parseDmarcRecord('v=DMARC1;p=quarantine;sp=none;adkim=s;aspf=S;pct=20;rua=mailto:d@example.com,mailto:e@example.net;fo=1;x=y'), {
      ok: true,
      record: { p: 'quarantine', sp: 'none', adkim: 's', aspf: 's', pct: 20, rua: ['mailto:d@example.com', 'mailto:e@example.net'], ignored: [] },
    });
  });

  test('v=DMARC1 first, a policy that is one; without one a valid rua makes it p=none (§6.6.3 step 6)', () => {
    assert.deepEqual(parseDmarcRecord('p=reject; v=DMARC1'), { ok: false, reason: 'the record does not start with v=DMARC1' });
    assert.deepEqual(parseDmarcRecord('v=DMARC2; p=reject'), { ok: false, reason: 'the record does not start with v=DMARC1' });
    assert.deepEqual(parseDmarcRecord('v=DMARC1'), { ok: false, reason: 'the record has no p= tag' });
    assert.deepEqual(parseDmarcRecord('v=DMARC1; p=block'), { ok: false, reason: 'p=block is not a policy' });
    assert.deepEqual(parseDmarcRecord('v=DMARC1; p=reject; sp=maybe'), { ok: false, reason: 'sp=maybe is not a policy' });
    const r = parseDmarcRecord('v=DMARC1; p=block; rua=mailto:d@example.com');
    assert.ok(r.ok);
    assert.deepEqual([r.record.p, r.record.sp, r.record.ignored], ['none', 'none', ['p']]);
  });

  test('bad adkim, aspf and pct take their defaults, and say so', () => {
    const r = parseDmarcRecord('v=DMARC1; p=reject; adkim=x; aspf=strict; pct=150');
    assert.ok(r.ok);
    assert.deepEqual([r.record.adkim, r.record.aspf, r.record.pct, r.record.ignored], ['r', 'r', 100, ['pct', 'adkim', 'aspf']]);
  });
});

describe('organizational domains (§3.2, the Public Suffix List)', () => {
  test('the public suffix and one label; a suffix is its own', () => {
    assert.equal(organizationalDomain('Mail.Example.COM.'), 'example.com');
    assert.equal(organizationalDomain('a.b.example.co.uk'), 'example.co.uk');
    assert.equal(organizationalDomain('example.com'), 'example.com');
    assert.equal(organizationalDomain('co.uk'), 'co.uk');
    // The private section counts too (as mailauth reads the list).
    assert.equal(organizationalDomain('alice.github.io'), 'alice.github.io');
  });
});

describe('alignment (§3.1)', () => {
  test('relaxed: the same organizational domain; strict: the same name', () => {
    assert.equal(aligned('example.com', 'mail.example.com', 'r'), true);
    assert.equal(aligned('news.example.com', 'mail.example.com', 'r'), true);
    assert.equal(aligned('example.com', 'example.net', 'r'), false);
    assert.equal(aligned('example.com', 'mail.example.com', 's'), false);
    assert.equal(aligned('Example.com.', 'example.COM', 's'), true);
    assert.equal(aligned('example.co.uk', 'other.co.uk', 'r'), false);
    assert.equal(firstAligned('example.com', ['example.net', 'a.example.com', 'example.com'], 's'), 'example.com');
  });

  test('mailauth 4.13.3 treats adkim=s and aspf=s as relaxed; ours does not', async () => {
    const dns = resolver({ '_dmarc.example.com': ['v=DMARC1; p=reject; adkim=s; aspf=s'] });
    const theirs = (await mailauthDmarc({ headerFrom: 'alice@example.com', spfDomains: ['bounce.example.com'], dkimDomains: [{ domain: 'mail.example.com' }], resolver: dns } as Parameters<
      typeof mailauthDmarc
    >[0])) as { status: { result: string } };
    assert.equal(theirs.status.result, 'pass', 'mailauth now gets strict alignment right: the correction may go (README says so)');
    const ours = evaluateDmarc('example.com', await lookupDmarc('example.com', dns), { spfPass: 'bounce.example.com', dkimPass: ['mail.example.com'] });
    assert.deepEqual(ours, { result: 'fail', policy: 'reject' });
  });
});

describe('finding the record (§6.6.3)', () => {
  test('at _dmarc.FROM, else at the organizational domain, whose sp then applies', async () => {
    const dns = resolver({ '_dmarc.example.com': ['v=DMARC1; p=reject; sp=quarantine', 'some other text'] });
    assert.deepEqual(await lookupDmarc('example.com', dns), {
      kind: 'record',
      at: 'example.com',
      forOrganization: false,
      record: { p: 'reject', sp: 'quarantine', adkim: 'r', aspf: 'r', pct: 100, rua: [], ignored: [] },
    });
    const sub = await lookupDmarc('a.b.example.com', dns);
    assert.deepEqual([sub.kind, sub.kind === 'record' && sub.at, sub.kind === 'record' && sub.forOrganization], ['record', 'example.com', true]);
    assert.deepEqual(dns.asked.slice(-2), ['TXT _dmarc.a.b.example.com', 'TXT _dmarc.example.com']);
    assert.deepEqual(evaluateDmarc('a.b.example.com', sub, { spfPass: null, dkimPass: [] }), { result: 'fail', policy: 'quarantine' });
  });

  test('two records, or a broken one, is none without asking further; nothing anywhere is none; a DNS error temperror', async () => {
    const dns = resolver({
      '_dmarc.two.example.com': ['v=DMARC1; p=none', 'v=DMARC1; p=reject'],
      '_dmarc.broken.example.com': ['v=DMARC1; p=block'],
      '_dmarc.example.com': ['v=DMARC1; p=reject'],
      '_dmarc.fail.example.org': 'ESERVFAIL',
    });
    assert.deepEqual(await lookupDmarc('two.example.com', dns), { kind: 'none', reason: '2 DMARC records at _dmarc.two.example.com' });
    assert.deepEqual(await lookupDmarc('broken.example.com', dns), { kind: 'none', reason: '_dmarc.broken.example.com: p=block is not a policy' });
    assert.ok(!dns.asked.includes('TXT _dmarc.example.com'), 'the organizational domain was not asked');
    assert.deepEqual(await lookupDmarc('example.net', dns), { kind: 'none', reason: 'no DMARC record at _dmarc.example.net' });
    assert.deepEqual(await lookupDmarc('fail.example.org', dns), { kind: 'temperror', reason: 'DNS error (ESERVFAIL) for _dmarc.fail.example.org' });
  });

  test('the result: an aligned DKIM or SPF pass passes, in the record’s mode', async () => {
    const dns = resolver({ '_dmarc.example.com': ['v=DMARC1; p=reject; aspf=s'] });
    const found = await lookupDmarc('example.com', dns);
    assert.deepEqual(evaluateDmarc('example.com', found, { spfPass: null, dkimPass: ['example.net', 'mail.example.com'] }), {
      result: 'pass',
      policy: 'reject',
      alignedBy: 'dkim',
      domain: 'mail.example.com',
    });
    assert.deepEqual(evaluateDmarc('example.com', found, { spfPass: 'example.com', dkimPass: [] }), { result: 'pass', policy: 'reject', alignedBy: 'spf', domain: 'example.com' });
    assert.deepEqual(evaluateDmarc('example.com', found, { spfPass: 'bounce.example.com', dkimPass: [] }), { result: 'fail', policy: 'reject' });
    assert.deepEqual(evaluateDmarc('example.com', { kind: 'none', reason: 'x' }, { spfPass: 'example.com', dkimPass: [] }), { result: 'none', reason: 'x' });
  });
});
