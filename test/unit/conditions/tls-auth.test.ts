/**
 * The TLS and SMTP AUTH fields (issue 16): `tls`, `tls-version`, `tls-cipher`,
 * `authenticated` and `auth-user`. Truth tables over SessionFacts, the phase
 * each is known from (inference and E041, located), what a log line shows for
 * each, and whole sessions through the filter host in both protocol orders of
 * link-auth: STARTTLS after the first EHLO, AUTH that passes, AUTH that fails.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDiagnostic } from '../../../src/dsl/diagnostics.js';
import type { SessionFacts } from '../../../src/model/plan.js';
import { filterLine, reportLine } from '../../../src/protocol/lines.js';
import type { Envelope, ReportEvent } from '../../../src/protocol/types.js';
import type { FilterPhase } from '../../../src/model/phases.js';
import { conditionValues } from '../../../src/runtime/explain.js';
import { compile, compileOk, condition, facts, onlyChain } from '../dsl/helpers.js';
import { HostHarness } from '../runtime/helpers.js';

const TLS13 = 'TLSv1.3:TLS_AES_256_GCM_SHA384:256';
const TLS12 = 'TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256:128';

/** `{ tls: null }` etc.: the facts of a session at mail-from that did (not) STARTTLS and AUTH. */
const at = (tls: string | null, authUser: string | null): SessionFacts => facts({ tls, authUser });

describe('tls, tls-version, tls-cipher: truth tables', () => {
  test('`tls` holds once link-tls was heard, whatever its text; `not tls` the other way round', () => {
    const p = condition('tls');
    const n = condition('not tls');
    for (const s of [TLS13, TLS12, 'an odd string']) {
      assert.equal(p(at(s, null)), true, s);
      assert.equal(n(at(s, null)), false, s);
    }
    assert.equal(p(at(null, null)), false);
    assert.equal(n(at(null, null)), true);
  });

  test('`tls-version ~` and `in` compare the version, case-insensitively; no TLS (or a string of another shape) never matches', () => {
    const re = condition('tls-version ~ /^TLSv1\\.3$/');
    const list = condition('tls-version in modern', 'list modern = { TLSv1.3 }');
    const inline = condition('tls-version in { tlsv1.2, TLSv1.3 }');
    assert.deepEqual([re(at(TLS13, null)), list(at(TLS13, null)), inline(at(TLS13, null))], [true, true, true]);
    assert.deepEqual([re(at(TLS12, null)), list(at(TLS12, null)), inline(at(TLS12, null))], [false, false, true]);
    assert.equal(re(at('tlsv1.3:X:1', null)), true, 'the regex is case-insensitive, like every regex');
    for (const none of [null, 'TLSv1.3', 'TLSv1.3:cipher:many']) {
      assert.deepEqual([re(at(none, null)), list(at(none, null)), inline(at(none, null))], [false, false, false], String(none));
    }
    // A value is compared whole: TLSv1 is not TLSv1.3.
    assert.equal(condition('tls-version in { TLSv1 }')(at(TLS13, null)), false);
    assert.equal(condition('not tls-version in { TLSv1, TLSv1.1 }')(at(TLS13, null)), true);
  });

  test('`tls-cipher ~` and `in` compare the cipher: the middle of VERSION:CIPHER:BITS', () => {
    const re = condition('tls-cipher ~ /^TLS_AES_/');
    const list = condition('tls-cipher in { TLS_AES_256_GCM_SHA384, tls_chacha20_poly1305_sha256 }');
    assert.deepEqual([re(at(TLS13, null)), list(at(TLS13, null))], [true, true]);
    assert.deepEqual([re(at(TLS12, null)), list(at(TLS12, null))], [false, false]);
    assert.equal(list(at('TLSv1.3:TLS_CHACHA20_POLY1305_SHA256:256', null)), true);
    assert.equal(condition('tls-cipher in { ECDHE-RSA-AES128-GCM-SHA256 }')(at(TLS12, null)), true);
    assert.equal(condition('tls-cipher ~ /^TLS_AES_256_GCM_SHA384$/')(at(TLS13, null)), true, 'neither the version nor the bits are part of it');
    assert.equal(condition('tls-cipher ~ /TLSv1/')(at(TLS13, null)), false);
    assert.deepEqual([re(at(null, null)), list(at(null, null))], [false, false]);
  });
});

describe('authenticated, auth-user: truth tables', () => {
  test('`authenticated` holds for a user smtpd said `pass` for (authUser), `not authenticated` otherwise', () => {
    const p = condition('authenticated');
    const n = condition('not authenticated');
    assert.deepEqual([p(at(TLS13, 'alice')), n(at(TLS13, 'alice'))], [true, false]);
    assert.deepEqual([p(at(TLS13, null)), n(at(TLS13, null))], [false, true]);
  });

  test('`auth-user in` compares user names whole, without regard to case: bare names and address-shaped names', () => {
    const p = condition('auth-user in staff', 'list staff = { alice, John.Doe, bob@example.com }');
    const yes = ['alice', 'ALICE', 'john.doe', 'Bob@Example.COM', 'bob@example.com.'];
    const no = ['alic', 'alice2', 'alice@example.com', 'bob', 'doe', 'x.john.doe', 'bob@example.org', 'carol@alice'];
    for (const u of yes) assert.equal(p(at(TLS13, u)), true, u);
    for (const u of no) assert.equal(p(at(TLS13, u)), false, u);
    assert.equal(p(at(TLS13, null)), false, 'nobody authenticated');
    assert.equal(condition('not auth-user in { alice }')(at(TLS13, null)), true);
  });

  test('`auth-user ~` matches anywhere in the name unless anchored: every user at a domain', () => {
    const p = condition('auth-user ~ /@example\\.com$/');
    assert.equal(p(at(TLS13, 'carol@example.com')), true);
    assert.equal(p(at(TLS13, 'carol@EXAMPLE.com')), true);
    assert.equal(p(at(TLS13, 'carol@example.com.evil')), false);
    assert.equal(p(at(TLS13, 'carol')), false);
    assert.equal(p(at(TLS13, null)), false);
  });

  test('combined: `authenticated and tls-version in …` is false without TLS even when authenticated', () => {
    const p = condition('authenticated and tls-version in { TLSv1.3 }');
    assert.equal(p(at(TLS13, 'alice')), true);
    assert.equal(p(at(TLS12, 'alice')), false);
    assert.equal(p(at(null, 'alice')), false);
    assert.equal(p(at(TLS13, null)), false);
  });
});

describe('phases: known from mail-from on', () => {
  test('a step testing any of them runs at mail-from by default, at rcpt-to and later when moved there', () => {
    for (const cond of ['tls', 'tls-version ~ /1\\.3/', 'tls-cipher ~ /AES/', 'authenticated', 'auth-user in { alice }', 'src in { 192.0.2.1 } or not authenticated']) {
      const [step] = onlyChain(compileOk(`chain c = reject "530 5.7.0 Authentication required" when ${cond}`)).steps;
      assert.equal(step?.phase, 'mail-from', cond);
      const [moved] = onlyChain(compileOk(`chain c = reject "530 5.7.0 no" when ${cond} at rcpt-to`)).steps;
      assert.equal(moved?.phase, 'rcpt-to', cond);
    }
    const [grey] = onlyChain(compileOk('chain c = greylist store "sqlite:/tmp/g.db" when not authenticated')).steps;
    assert.equal(grey?.phase, 'rcpt-to', 'a greylist step keeps its own default, later than mail-from');
  });

  test('`at helo` or `at connect` is E041 at the `at`, pointing at the field (file:line:col), with the phase to use', () => {
    const text = 'chain c =\n    pause 1s\n    then reject "530 5.7.0 Must issue a STARTTLS command first" when not tls at helo\n    then accept when auth-user in { alice } at connect\n';
    const r = compile(text);
    assert.equal(r.ok, false);
    const shown = r.diagnostics.map((d) => formatDiagnostic(d, () => text));
    assert.deepEqual(
      r.diagnostics.map((d) => `${d.code} ${d.span.file}:${d.span.line}:${d.span.column} ${d.message} (${d.hint ?? ''})`),
      [
        'E041 test.rules:3:78 `at helo` is earlier than this step can run: its condition looks at `tls`, known from the mail-from phase on (remove `at helo`, or use `at mail-from` or later)',
        'E041 test.rules:4:45 `at connect` is earlier than this step can run: its condition looks at `auth-user`, known from the mail-from phase on (remove `at connect`, or use `at mail-from` or later)',
      ],
      shown.join('\n'),
    );
    assert.deepEqual(
      r.diagnostics.map((d) => (d.related ?? []).map((x) => `${x.span.line}:${x.span.column} ${x.message}`)),
      [['3:74 `tls` is used here'], ['4:22 `auth-user` is used here']],
    );
  });
});

describe('explain: what a log line shows for each field', () => {
  test('the link-tls text for `tls`, its parts for `tls-version`/`tls-cipher`, the user for both AUTH fields; null when unknown', () => {
    const step = onlyChain(compileOk('chain c = accept when tls and tls-version ~ /x/ and tls-cipher ~ /x/ and authenticated and auth-user ~ /x/')).steps[0];
    assert.ok(step !== undefined);
    assert.deepEqual(conditionValues(step, at(TLS13, 'alice@example.com')), {
      tls: TLS13,
      'tls-version': 'TLSv1.3',
      'tls-cipher': 'TLS_AES_256_GCM_SHA384',
      authenticated: 'alice@example.com',
      'auth-user': 'alice@example.com',
    });
    assert.deepEqual(conditionValues(step, at(null, null)), { tls: null, 'tls-version': null, 'tls-cipher': null, authenticated: null, 'auth-user': null });
    // A client's name is bounded in the log.
    const long = 'u'.repeat(300);
    const shown = conditionValues(step, at(TLS13, long))?.['auth-user'];
    assert.equal(typeof shown === 'string' && shown.length, 201);
  });
});

/**
 * One session through the filter host, as smtpd 7.8 (0.7) or 6.8 (0.6) would
 * write it: EHLO, optionally STARTTLS (link-tls) and a second EHLO, optionally
 * AUTH (link-auth with its result), then MAIL FROM. Returns the decision at
 * mail-from and the facts' log fields.
 */
class Conversation {
  private readonly h: HostHarness;
  private readonly sid = '4a0c0e0000000001';

  constructor(
    rulesText: string,
    private readonly version: '0.6' | '0.7',
  ) {
    const handshake =
      version === '0.7'
        ? ['config|smtpd-version|7.8.0p1', 'config|protocol|0.7', 'config|subsystem|smtp-in', 'config|ready']
        : ['config|smtpd-version|6.8.0p2', 'config|subsystem|smtp-in', 'config|ready'];
    this.h = new HostHarness(compileOk(rulesText), { handshake });
  }

  private head(): Envelope {
    return { version: this.version, timestamp: 1795635326.5, subsystem: 'smtp-in', sessionId: this.sid };
  }

  report(event: ReportEvent): void {
    this.h.feed(reportLine({ ...this.head(), event }));
  }

  /** The decision smtpd is sent for one request. */
  ask(phase: FilterPhase, param: string): string {
    const token = `0000000000000${(['connect', 'ehlo', 'mail-from', 'rcpt-to'].indexOf(phase) + 1).toString().padStart(3, '0')}`;
    const out = this.h.feed(filterLine({ ...this.head(), phase, token, param }));
    assert.equal(out.length, 1, out.join('\n'));
    const answer = out[0] ?? '';
    const prefix = `filter-result|${this.sid}|${token}|`;
    assert.ok(answer.startsWith(prefix), answer);
    return answer.slice(prefix.length);
  }

  /** Connect, EHLO, then what `client` does, then MAIL FROM: the answer at mail-from. */
  run(client: { readonly tls?: string; readonly auth?: { readonly user: string; readonly result: 'pass' | 'fail' | 'error' } }): string {
    const src = { address: '192.0.2.50', port: 40001, local: false };
    const dest = { address: '192.0.2.1', port: 587, local: false };
    this.report({ type: 'link-connect', rdns: 'client.example', fcrdns: 'pass', src, dest, srcText: '192.0.2.50:40001' });
    assert.equal(this.ask('connect', 'client.example|192.0.2.50'), 'proceed');
    this.report({ type: 'link-greeting', hostname: 'mail.test' });
    assert.equal(this.ask('ehlo', 'client.example'), 'proceed', 'the first EHLO, before STARTTLS');
    this.report({ type: 'link-identify', method: 'EHLO', identity: 'client.example' });
    if (client.tls !== undefined) {
      // STARTTLS (no filter request: rules never register it), the handshake, then the client says EHLO again.
      this.report({ type: 'protocol-client', command: 'STARTTLS' });
      this.report({ type: 'link-tls', tls: client.tls });
      assert.equal(this.ask('ehlo', 'client.example'), 'proceed', 'the EHLO after STARTTLS');
      this.report({ type: 'link-identify', method: 'EHLO', identity: 'client.example' });
    }
    if (client.auth !== undefined) {
      this.report({ type: 'protocol-client', command: 'AUTH PLAIN ********' });
      this.report({ type: 'link-auth', username: client.auth.user, result: client.auth.result });
    }
    return this.ask('mail-from', 'alice@example.net');
  }

  /** The `values` of the last decision line (what the condition read). */
  lastValues(): unknown {
    return this.h.log.records.filter((r) => r.msg === 'decision').at(-1)?.fields.values;
  }
}

describe('whole sessions through the host, in both protocol orders of link-auth', () => {
  const RULES = `chain submission =
    reject "530 5.7.0 Must issue a STARTTLS command first" when not tls
    then reject "530 5.7.0 Authentication required" when not authenticated
    then reject "550 5.7.1 not for interns" when auth-user in { intern }
`;
  for (const version of ['0.6', '0.7'] as const) {
    test(`${version}: STARTTLS after the first EHLO updates the facts; only a passing AUTH authenticates; auth-user is the name smtpd passed`, () => {
      assert.equal(new Conversation(RULES, version).run({}), 'reject|530 5.7.0 Must issue a STARTTLS command first');
      assert.equal(new Conversation(RULES, version).run({ tls: TLS13 }), 'reject|530 5.7.0 Authentication required');
      for (const result of ['fail', 'error'] as const) {
        const c = new Conversation(RULES, version);
        assert.equal(c.run({ tls: TLS13, auth: { user: 'alice', result } }), 'reject|530 5.7.0 Authentication required', result);
        assert.deepEqual(c.lastValues(), { authenticated: null }, 'a failed AUTH authenticates nobody');
      }
      const alice = new Conversation(RULES, version);
      assert.equal(alice.run({ tls: TLS13, auth: { user: 'alice', result: 'pass' } }), 'proceed');
      const intern = new Conversation(RULES, version);
      assert.equal(intern.run({ tls: TLS12, auth: { user: 'intern', result: 'pass' } }), 'reject|550 5.7.1 not for interns');
      assert.deepEqual(intern.lastValues(), { 'auth-user': 'intern' });
    });
  }

  test('0.6: a user name with `|` (first field there) is read whole', () => {
    const c = new Conversation('chain c = reject "550 5.7.1 no" when auth-user ~ /^a\\|b$/', '0.6');
    assert.equal(c.run({ tls: TLS13, auth: { user: 'a|b', result: 'pass' } }), 'reject|550 5.7.1 no');
  });
});
