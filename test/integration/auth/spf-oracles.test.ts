/**
 * The spf step against two independent SPF implementations, on the same
 * zones served by a real unbound: python3-spf (pyspf, with dnspython) and
 * Mail::SPF (libmail-spf-perl, with Net::DNS). For every case our result
 * (the runner, through the filter's DnsClient and node:dns) must equal both
 * oracles', unless the case lists a disagreement with the RFC 7208 section
 * that decides it. A silent DNS server behind a stub zone gives real timeouts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { nodeTransport } from '../../../src/dns/node-transport.js';
import { SessionAuth, type SpfResult } from '../../../src/model/auth.js';
import type { StepOf } from '../../../src/model/plan.js';
import { createSpfService } from '../../../src/steps/spf/run.js';
import { systemClock } from '../../../src/support/clock.js';
import { compileOk, onlyChain } from '../../unit/dsl/helpers.js';
import { facts } from '../../unit/runtime/helpers.js';
import { Unbound } from '../dns/unbound.js';

const HERE = new URL('../../../../test/integration/auth/', import.meta.url).pathname;
/** Each oracle's timeout per query, and ours for the whole check: the silent server's cases take this long. */
const TIMEOUT_S = 1;

/** The client addresses of the cases. */
const IP = '192.0.2.7';
const OTHER = '198.51.100.9';
const IP6 = '2001:db8::7';

interface Case {
  readonly name: string;
  readonly ip: string;
  /** The envelope sender ('' for the null sender). */
  readonly sender: string;
  readonly helo: string;
  /** `mfrom`: the MAIL FROM identity; `helo`: the HELO identity (spf check-helo). */
  readonly scope: 'mfrom' | 'helo';
  /** What RFC 7208 says, which all three give. */
  readonly expected: SpfResult;
  /** Where an oracle says otherwise: its result, and the section that decides for `expected`. */
  readonly disagree?: { readonly pyspf?: SpfResult; readonly mailSpf?: SpfResult; readonly rfc: string };
}

const RECORDS: readonly string[] = [
  'pass.test. TXT "v=spf1 ip4:192.0.2.0/24 -all"',
  'fail.test. TXT "v=spf1 ip4:203.0.113.1 -all"',
  'softfail.test. TXT "v=spf1 ip4:203.0.113.1 ~all"',
  'neutral.test. TXT "v=spf1 ?all"',
  'default-neutral.test. TXT "v=spf1 ip4:203.0.113.1"',
  'norecord.test. TXT "some other text"',
  'norecord.test. A 192.0.2.1',
  'two.test. TXT "v=spf1 +all"',
  'two.test. TXT "v=spf1 -all"',
  'unknown-mech.test. TXT "v=spf1 foo:bar -all"',
  'bad-cidr.test. TXT "v=spf1 ip4:192.0.2.0/33 -all"',
  'upper.test. TXT "V=SPF1 IP4:192.0.2.7 -ALL"',
  'spf10.test. TXT "v=spf10 +all"',
  'split.test. TXT "v=spf1 ip4:203.0.113.1 " "ip4:192.0.2.7 -all"',
  'include.test. TXT "v=spf1 include:pass.test -all"',
  'include-fail.test. TXT "v=spf1 include:fail.test ~all"',
  'include-none.test. TXT "v=spf1 include:norecord.test -all"',
  'include-perm.test. TXT "v=spf1 include:two.test -all"',
  'redirect.test. TXT "v=spf1 redirect=pass.test"',
  'redirect-none.test. TXT "v=spf1 redirect=norecord.test"',
  'redirect-all.test. TXT "v=spf1 -all redirect=pass.test"',
  'modifiers.test. TXT "v=spf1 exp=explain.test unknown=x ip4:192.0.2.7 -all"',
  'a.test. TXT "v=spf1 a -all"',
  'a.test. A 192.0.2.7',
  'a-cidr.test. TXT "v=spf1 a:host.a-cidr.test/24 -all"',
  'host.a-cidr.test. A 192.0.2.200',
  'a6.test. TXT "v=spf1 a -all"',
  'a6.test. AAAA 2001:db8::7',
  'ip6.test. TXT "v=spf1 ip6:2001:db8::/64 -all"',
  'mx.test. TXT "v=spf1 mx -all"',
  'mx.test. MX 10 mail.mx.test.',
  'mail.mx.test. A 192.0.2.7',
  'ptr.test. TXT "v=spf1 ptr -all"',
  '7.2.0.192.in-addr.arpa. PTR host.ptr.test.',
  'host.ptr.test. A 192.0.2.7',
  'exists.test. TXT "v=spf1 exists:%{i}.allowed.exists.test -all"',
  '192.0.2.7.allowed.exists.test. A 127.0.0.2',
  'macro.test. TXT "v=spf1 exists:%{l}.%{d}.users.test -all"',
  'alice.macro.test.users.test. A 127.0.0.2',
  'helo.test. TXT "v=spf1 a -all"',
  'helo.test. A 192.0.2.7',
  'helo-fail.test. TXT "v=spf1 -all"',
  'slow-include.test. TXT "v=spf1 include:x.slow ip4:192.0.2.7 -all"',
  'slow-a.test. TXT "v=spf1 ip4:203.0.113.1 a:x.slow -all"',
  // §4.6.4: 10 DNS-querying terms across includes, then one more.
  ...Array.from({ length: 12 }, (_, i) => `l${i}.test. TXT "v=spf1 include:l${i + 1}.test -all"`),
  'l12.test. TXT "v=spf1 ip4:192.0.2.7 -all"',
  // §4.6.4: 2 void lookups, then a third.
  'void2.test. TXT "v=spf1 a:n1.test a:n2.test ip4:192.0.2.7 -all"',
  'void3.test. TXT "v=spf1 a:n1.test a:n2.test a:n3.test ip4:192.0.2.7 -all"',
  // §4.6.4: an mx with more than 10 hosts (all with addresses) is permerror.
  'mx11.test. TXT "v=spf1 mx ip4:192.0.2.7 -all"',
  ...Array.from({ length: 11 }, (_, i) => `mx11.test. MX ${i} h${i}.mx11.test.`),
  ...Array.from({ length: 11 }, (_, i) => `h${i}.mx11.test. A 203.0.113.${i + 1}`),
  // An mx with 10 hosts is fine.
  'mx10.test. TXT "v=spf1 mx -all"',
  ...Array.from({ length: 10 }, (_, i) => `mx10.test. MX ${i} h${i}.mx10.test.`),
  ...Array.from({ length: 9 }, (_, i) => `h${i}.mx10.test. A 203.0.113.${i + 1}`),
  'h9.mx10.test. A 192.0.2.7',
];

const mfrom = (name: string, sender: string, expected: SpfResult, more: Partial<Case> = {}): Case => ({ name, ip: IP, sender, helo: 'helo.test', scope: 'mfrom', expected, ...more });

const CASES: readonly Case[] = [
  mfrom('ip4 in range', 'alice@pass.test', 'pass'),
  mfrom('ip4 out of range, -all', 'alice@pass.test', 'fail', { ip: OTHER }),
  mfrom('-all', 'bob@fail.test', 'fail'),
  mfrom('~all', 'bob@softfail.test', 'softfail'),
  mfrom('?all', 'bob@neutral.test', 'neutral'),
  mfrom('no match, no all: neutral (§4.7)', 'bob@default-neutral.test', 'neutral'),
  mfrom('no SPF record among the TXT (§4.5)', 'bob@norecord.test', 'none'),
  mfrom('no such domain (§4.3)', 'bob@nxdomain.test', 'none'),
  mfrom('two SPF records (§4.5)', 'bob@two.test', 'permerror'),
  mfrom('unknown mechanism (§4.6.1)', 'bob@unknown-mech.test', 'permerror'),
  mfrom('ip4 prefix /33 (§5.6)', 'bob@bad-cidr.test', 'permerror'),
  mfrom('case-insensitive terms (§4.6.1)', 'bob@upper.test', 'pass'),
  mfrom('v=spf10 is no record (§4.5)', 'bob@spf10.test', 'none'),
  mfrom('strings of a TXT record joined (§3.3)', 'bob@split.test', 'pass'),
  mfrom('include that passes', 'bob@include.test', 'pass'),
  mfrom('include that fails does not match (§5.2)', 'bob@include-fail.test', 'softfail'),
  mfrom('include of a domain without a record (§5.2)', 'bob@include-none.test', 'permerror'),
  mfrom('include of a permerror (§5.2)', 'bob@include-perm.test', 'permerror'),
  mfrom('redirect (§6.1)', 'bob@redirect.test', 'pass'),
  mfrom('redirect to a domain without a record (§6.1)', 'bob@redirect-none.test', 'permerror'),
  mfrom('redirect ignored beside all (§6.1)', 'bob@redirect-all.test', 'fail'),
  mfrom('exp and unknown modifiers ignored (§6)', 'bob@modifiers.test', 'pass'),
  mfrom('a', 'bob@a.test', 'pass'),
  mfrom('a with a domain and a prefix', 'bob@a-cidr.test', 'pass'),
  mfrom('a for IPv6 (AAAA)', 'bob@a6.test', 'pass', { ip: IP6 }),
  mfrom('ip6', 'bob@ip6.test', 'pass', { ip: IP6 }),
  mfrom('ip6 against an IPv4 client', 'bob@ip6.test', 'fail'),
  mfrom('mx', 'bob@mx.test', 'pass'),
  mfrom('mx, other address', 'bob@mx.test', 'fail', { ip: OTHER }),
  mfrom('ptr, validated (§5.5)', 'bob@ptr.test', 'pass'),
  mfrom('exists with %{i} (§5.7, §7)', 'bob@exists.test', 'pass'),
  mfrom('exists with %{i}, not there', 'bob@exists.test', 'fail', { ip: OTHER }),
  mfrom('macros %{l} and %{d} (§7)', 'alice@macro.test', 'pass'),
  mfrom('macros %{l} and %{d}, another local part', 'carol@macro.test', 'fail'),
  mfrom('10 lookups (§4.6.4)', 'bob@l2.test', 'pass'),
  mfrom('11 lookups (§4.6.4)', 'bob@l1.test', 'permerror'),
  mfrom('2 void lookups (§4.6.4)', 'bob@void2.test', 'pass'),
  mfrom('3 void lookups (§4.6.4)', 'bob@void3.test', 'permerror'),
  mfrom('mx with 10 hosts (§4.6.4)', 'bob@mx10.test', 'pass'),
  // RFC 7208 §4.6.4: "the evaluation of each 'MX' record MUST NOT result in querying more than 10 address
  // records ... If this limit is exceeded, the 'mx' mechanism MUST produce a 'permerror' result." Mail::SPF
  // 2.9 looks up the first 10 hosts only and goes on (RFC 4408's reading), so the ip4 after it passes.
  mfrom('mx with 11 hosts (§4.6.4)', 'bob@mx11.test', 'permerror', { disagree: { mailSpf: 'pass', rfc: '§4.6.4' } }),
  mfrom('the null sender is postmaster@HELO (§2.4)', '', 'pass'),
  mfrom('the null sender, HELO that fails', '', 'fail', { helo: 'helo-fail.test' }),
  mfrom('a timeout in an include (§5.2)', 'bob@slow-include.test', 'temperror'),
  mfrom('a timeout in an a (§4.4)', 'bob@slow-a.test', 'temperror'),
  { name: 'HELO identity (§2.3)', ip: IP, sender: 'bob@fail.test', helo: 'helo.test', scope: 'helo', expected: 'pass' },
  { name: 'HELO identity, other address', ip: OTHER, sender: 'bob@pass.test', helo: 'helo.test', scope: 'helo', expected: 'fail' },
  { name: 'HELO identity without a record', ip: IP, sender: 'bob@pass.test', helo: 'norecord.test', scope: 'helo', expected: 'none' },
];

/** One oracle over every case: a result word a line, in order. */
function oracle(command: string, script: string, port: number): SpfResult[] {
  const input = CASES.map((c) => JSON.stringify({ ip: c.ip, sender: c.sender === '' ? `postmaster@${c.helo}` : c.sender, helo: c.helo, scope: c.scope })).join('\n');
  const r = spawnSync(command, [`${HERE}${script}`, String(port), String(TIMEOUT_S)], { input: `${input}\n`, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${script}: ${r.stderr}`);
  const words = r.stdout.trim().split('\n');
  assert.equal(words.length, CASES.length, `${script} answered ${words.length} of ${CASES.length}: ${r.stderr}`);
  return words as SpfResult[];
}

describe('SPF results against pyspf and Mail::SPF, on zones served by unbound', () => {
  let dns: Unbound;
  let silent: Socket;
  let ours: SpfResult[];
  let pyspf: SpfResult[];
  let mailSpf: SpfResult[];

  before(async () => {
    // A DNS server that never answers: behind the stub zone `slow.`, every lookup there times out.
    silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    dns = await Unbound.start({ records: RECORDS, zones: ['2.0.192.in-addr.arpa.'], stubs: [{ zone: 'slow.', address: `127.0.0.1@${silent.address().port}` }] });
    const service = createSpfService({ clock: systemClock, transport: () => nodeTransport({ server: { host: '127.0.0.1', port: dns.port } }), hostname: 'mx.example' });
    const [step] = onlyChain(compileOk(`chain c = spf check-helo timeout ${TIMEOUT_S}s`)).steps.filter((s): s is StepOf<'spf'> => s.action.kind === 'spf');
    assert.ok(step);
    const runner = service.factory(step);
    ours = await Promise.all(
      CASES.map(async (c) => {
        const auth = new SessionAuth();
        await runner.run({
          facts: { ...facts({ src: c.ip, helo: c.helo, mailFrom: c.sender }), auth },
          phase: 'mail-from',
          request: 'mail-from',
          clock: systemClock,
          signal: new AbortController().signal,
        });
        return auth.spf(c.scope === 'mfrom' ? 'mailfrom' : 'helo') ?? assert.fail(`${c.name}: no result recorded`);
      }),
    );
    pyspf = oracle('/usr/bin/python3', 'pyspf-oracle.py', dns.port);
    mailSpf = oracle('/usr/bin/perl', 'mail-spf-oracle.pl', dns.port);
  });

  after(async () => {
    await dns?.stop();
    silent?.close();
  });

  test('each case: ours is RFC 7208’s, and so is each oracle’s, but where the case lists the disagreement', () => {
    const wrong: string[] = [];
    for (const [i, c] of CASES.entries()) {
      const got = { ours: ours[i], pyspf: pyspf[i], mailSpf: mailSpf[i] };
      const want = { ours: c.expected, pyspf: c.disagree?.pyspf ?? c.expected, mailSpf: c.disagree?.mailSpf ?? c.expected };
      for (const who of ['ours', 'pyspf', 'mailSpf'] as const) {
        if (got[who] !== want[who]) wrong.push(`${c.name}: ${who} said ${got[who]}, expected ${want[who]}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  test('the cases cover all seven results', () => {
    assert.deepEqual(new Set(CASES.map((c) => c.expected)).size, 7);
  });
});
