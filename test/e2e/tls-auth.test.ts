/**
 * STARTTLS and AUTH end to end (issue 16), in real smtpd 7.8 (env.ts tlsSmtpd():
 * Debian's 6.8 fails every handshake with OpenSSL 3): a submission-like listener
 * `listen on 127.0.0.1 port 587 tls pki mail.test auth-optional <creds>` with a
 * self-signed certificate and a `table creds file:` hashed by 7.8's `encrypt`,
 * and `swaks --tls --auth PLAIN` as the client.
 *
 * What the filter heard, two ways:
 *  - its --record copy of the conversation holds `link-tls` (TLSv1.3:CIPHER:BITS)
 *    and `link-auth` in protocol 0.7's order, `result|username`;
 *  - what it made of them (SessionFacts `tls`, `authUser`, which the condition
 *    fields read too): the Postfix policy request of a `policy` step carries them, as
 *    `encryption_protocol`/`encryption_cipher`/`encryption_keysize` and
 *    `sasl_username`, read by a policy server that prints every request.
 *    A failed AUTH is heard (`link-auth|fail|alice`) but authenticates nobody:
 *    `sasl_username` stays empty. (The username comes after the result in 0.7: a
 *    parser that took 0.6's order would make `pass` the user's name.)
 *
 * Then rules on those fields acting end to end: a chain that refuses MAIL FROM
 * without TLS, without a passing AUTH, and for one user (`tls`, `authenticated`,
 * `auth-user`), with the values each decision read in the filter's log.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyServerProcess } from '../integration/faults/live.js';
import { e2eSkipReason, FILTER_MAIN, FILTER_USER, filterRuntime, makeOpenTempDir, tlsSmtpd } from './harness/env.js';
import { marker, RECIPIENT } from './harness/mail.js';
import { FILTER_NAME, SERVER_V4, Smtpd, type FilterLogRecord, type RunResult } from './harness/smtpd.js';
import { makeCreds, makePki, PKI_NAME } from './harness/tls.js';
import { waitFor } from './harness/wait.js';

const SUBMISSION_PORT = 587;
const SOCKET_DIR = '/run/policy';
const USER = 'alice';
const PASSWORD = 'correct-horse';
const RULES = `# test/e2e/tls-auth.test.ts
chain main =
    policy unix:${SOCKET_DIR}/policy.sock timeout 5s
`;

const e2eSkip = e2eSkipReason();
const built = tlsSmtpd();
const skip = e2eSkip ?? ('skip' in built ? built.skip : null);

describe('STARTTLS and AUTH in real smtpd 7.8: the filter hears link-tls and link-auth', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;
  let dir: string;
  let server: PolicyServerProcess;

  before(async () => {
    if ('skip' in built) throw new Error(built.skip);
    // The policy socket and the filter's recording (written as opensmtpd) live here.
    dir = makeOpenTempDir('filter-rules-e2e-tls-');
    chownSync(dir, Number(execFileSync('id', ['-u', FILTER_USER], { encoding: 'utf8' }).trim()), -1);
    server = await PolicyServerProcess.start(join(dir, 'policy.sock'), 'DUNNO');
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      smtpd: built,
      files: { 'main.rules': RULES },
      filter: (work) => [rt.node, rt.resolve(FILTER_MAIN), '--record', join(dir, 'filter.rec'), join(work, 'main.rules')],
      binds: { [SOCKET_DIR]: dir },
      extraConfig: (work) => [
        ...makePki(work),
        ...makeCreds(built, work, { [USER]: PASSWORD }),
        `listen on ${SERVER_V4} port ${SUBMISSION_PORT} tls pki ${PKI_NAME} auth-optional <creds> filter "${FILTER_NAME}"`,
      ],
    });
  });
  after(async () => {
    await smtpd?.stop();
    await server?.kill();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    if (smtpd?.stopped !== true) smtpd?.assertHealthy();
  });

  /** swaks with STARTTLS and AUTH PLAIN on the submission port, from `source`. */
  function swaks(source: string, subject: string, auth: readonly string[]): Promise<RunResult> {
    return smtpd.exec(
      'swaks',
      [
        ...['--server', `${SERVER_V4}:${SUBMISSION_PORT}`, '--local-interface', source, '--tls'],
        ...auth,
        ...['--helo', 'client.example', '--from', `${USER}@example.net`, '--to', RECIPIENT, '--header', `Subject: ${subject}`, '--timeout', '20'],
      ],
      30_000,
    );
  }

  /** The recorded lines smtpd sent about the session from `source` (`> report|0.7|TS|smtp-in|EVENT|SID|…`). */
  function recorded(source: string): string[] {
    const lines = readFileSync(join(dir, 'filter.rec'), 'utf8').split('\n');
    const connect = lines.find((l) => l.startsWith('> report|') && l.includes('|link-connect|') && l.includes(`|${source}:`));
    assert.ok(connect !== undefined, `no link-connect from ${source} in the recording:\n${lines.join('\n')}`);
    const sid = connect.split('|')[5] ?? '';
    return lines.filter((l) => l.startsWith('> report|') && l.split('|')[5] === sid);
  }

  /** The policy request the filter sent for the session from `source` (at rcpt-to). */
  function policyRequest(source: string): Promise<Record<string, string>> {
    return waitFor(() => server.requestAttributes.find((a) => a['client_address'] === source), {
      timeoutMs: 5000,
      what: `a policy request for ${source}`,
    });
  }

  test('TLSv1.3 and AUTH PLAIN succeed; the recording has link-tls and link-auth `pass|alice`; the policy request names the TLS version and the user', () =>
    smtpd.withLog(async () => {
      const source = '127.0.0.41';
      const subject = marker('tls-auth');
      const r = await swaks(source, subject, ['--auth', 'PLAIN', '--auth-user', USER, '--auth-password', PASSWORD]);
      const out = `${r.stdout}${r.stderr}`;
      assert.equal(r.code, 0, out);
      assert.match(out, /TLS started with cipher TLSv1\.3:/, out);
      assert.match(out, /<~ {1,2}235 .*Authentication succeeded/, out);
      await smtpd.waitForMessage((m) => m.text.includes(subject));

      const mine = recorded(source);
      const tls = mine.find((l) => l.split('|')[4] === 'link-tls');
      const auth = mine.find((l) => l.split('|')[4] === 'link-auth');
      assert.ok(tls !== undefined && auth !== undefined, mine.join('\n'));
      assert.ok(mine.every((l) => l.split('|')[1] === '0.7'), `protocol 0.7 throughout:\n${mine.join('\n')}`);
      assert.match(tls, /\|link-tls\|[0-9a-f]+\|TLSv1\.3:[A-Z0-9_]+:(128|256)$/, tls);
      assert.match(auth, new RegExp(`\\|link-auth\\|[0-9a-f]+\\|pass\\|${USER}$`), auth);
      // Heard in the order of the dialog: TLS, then AUTH, then the transaction.
      const at = (event: string): number => mine.findIndex((l) => l.split('|')[4] === event);
      assert.ok(at('link-tls') < at('link-auth') && at('link-auth') < at('tx-begin'), mine.join('\n'));

      const [, cipher = '', bits = ''] = tls.slice(tls.lastIndexOf('|') + 1).split(':');
      const request = await policyRequest(source);
      assert.equal(request['sasl_username'], USER, JSON.stringify(request));
      assert.equal(request['encryption_protocol'], 'TLSv1.3', JSON.stringify(request));
      assert.equal(request['encryption_cipher'], cipher, JSON.stringify(request));
      assert.equal(request['encryption_keysize'], bits, JSON.stringify(request));
    }));

  test('a wrong password: link-auth `fail|alice` is heard, nobody is authenticated (empty sasl_username), TLS still is', () =>
    smtpd.withLog(async () => {
      const source = '127.0.0.42';
      const subject = marker('tls-auth-fail');
      // --auth-optional: swaks goes on with the mail after the 535, as auth-optional allows.
      const r = await swaks(source, subject, ['--auth-optional', 'PLAIN', '--auth-user', USER, '--auth-password', 'wrong']);
      const out = `${r.stdout}${r.stderr}`;
      assert.equal(r.code, 0, out);
      assert.match(out, /<~\*? {1,2}535 /, out);
      await smtpd.waitForMessage((m) => m.text.includes(subject));

      const mine = recorded(source);
      const auth = mine.find((l) => l.split('|')[4] === 'link-auth');
      assert.ok(auth !== undefined, mine.join('\n'));
      assert.match(auth, new RegExp(`\\|link-auth\\|[0-9a-f]+\\|fail\\|${USER}$`), auth);

      const request = await policyRequest(source);
      assert.equal(request['sasl_username'], '', JSON.stringify(request));
      assert.equal(request['encryption_protocol'], 'TLSv1.3', JSON.stringify(request));
    }));

  test('for contrast, a plain session on the harness listener: no link-tls, no link-auth, nothing in the policy request', () =>
    smtpd.withLog(async () => {
      const source = '127.0.0.43';
      const subject = marker('plain');
      const r = await smtpd.swaks(['--local-interface', source, '--helo', 'client.example', '--from', 'bob@example.net', '--to', RECIPIENT, '--header', `Subject: ${subject}`, '--timeout', '20']);
      assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
      await smtpd.waitForMessage((m) => m.text.includes(subject));
      const mine = recorded(source);
      assert.equal(mine.filter((l) => ['link-tls', 'link-auth'].includes(l.split('|')[4] ?? '')).length, 0, mine.join('\n'));
      const request = await policyRequest(source);
      assert.equal(request['sasl_username'], '', JSON.stringify(request));
      assert.equal(request['encryption_protocol'], '', JSON.stringify(request));
      assert.equal(request['encryption_keysize'], '0', JSON.stringify(request));
    }));
});

describe('rules on tls, authenticated and auth-user in real smtpd 7.8: what the filter decides at MAIL FROM', { skip: skip ?? false }, () => {
  const NO_TLS = '530 5.7.0 Must issue a STARTTLS command first';
  const NO_AUTH = '530 5.7.0 Authentication required';
  const BLOCKED = '550 5.7.1 this user may not send';
  const BLOCKED_USER = 'bob';
  const GATE_RULES = `# test/e2e/tls-auth.test.ts: the submission gate
chain main =
    reject "${NO_TLS}" when not tls
    then reject "${NO_AUTH}" when not authenticated
    then reject "${BLOCKED}" when auth-user in { ${BLOCKED_USER} }
    then accept when tls-version ~ /^TLSv1\\.[23]$/ and tls-cipher ~ /./
`;
  let smtpd: Smtpd;

  before(async () => {
    if ('skip' in built) throw new Error(built.skip);
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      smtpd: built,
      files: { 'main.rules': GATE_RULES },
      filter: (work) => [rt.node, rt.resolve(FILTER_MAIN), join(work, 'main.rules')],
      extraConfig: (work) => [
        ...makePki(work),
        ...makeCreds(built, work, { [USER]: PASSWORD, [BLOCKED_USER]: PASSWORD }),
        `listen on ${SERVER_V4} port ${SUBMISSION_PORT} tls pki ${PKI_NAME} auth-optional <creds> filter "${FILTER_NAME}"`,
      ],
    });
  });
  after(async () => {
    await smtpd?.stop();
  });
  afterEach(() => {
    if (smtpd?.stopped !== true) smtpd?.assertHealthy();
  });

  /** swaks on the submission port from `source`, with STARTTLS unless `plain`; `auth` as swaks takes it. */
  function swaks(source: string, subject: string, user: string, options: { readonly tls: boolean; readonly auth: readonly string[] }): Promise<RunResult> {
    return smtpd.exec(
      'swaks',
      [
        ...['--server', `${SERVER_V4}:${SUBMISSION_PORT}`, '--local-interface', source],
        ...(options.tls ? ['--tls'] : []),
        ...options.auth,
        ...['--helo', 'client.example', '--from', `${user}@example.net`, '--to', RECIPIENT, '--header', `Subject: ${subject}`, '--timeout', '20'],
      ],
      30_000,
    );
  }

  /** swaks shows a refusal as `<** CODE …`, or `<~* CODE …` over TLS. */
  const refused = (out: string, reply: string): boolean => out.includes(`<** ${reply}`) || out.includes(`<~* ${reply}`);

  /** The filter's decision line for the session from `source` at mail-from. */
  function decisionFor(source: string): Promise<FilterLogRecord> {
    return waitFor(
      () => smtpd.filterRecords().find((r) => r.msg === 'decision' && r['phase'] === 'mail-from' && typeof r['client'] === 'string' && r['client'].startsWith(`${source}:`)),
      { timeoutMs: 5000, what: `the mail-from decision for ${source}` },
    );
  }

  test('without STARTTLS, MAIL FROM is refused by `not tls`', () =>
    smtpd.withLog(async () => {
      const source = '127.0.0.51';
      const r = await swaks(source, marker('gate-plain'), USER, { tls: false, auth: [] });
      const out = `${r.stdout}${r.stderr}`;
      assert.notEqual(r.code, 0, out);
      assert.ok(refused(out, NO_TLS), out);
      const d = await decisionFor(source);
      assert.deepEqual([d['decision'], d['condition'], d['values']], ['reject', 'not tls', { tls: null }], JSON.stringify(d));
    }));

  test('STARTTLS without AUTH, and STARTTLS with a wrong password (smtpd says 535), are refused by `not authenticated`', () =>
    smtpd.withLog(async () => {
      for (const [source, auth] of [
        ['127.0.0.52', []],
        ['127.0.0.53', ['--auth-optional', 'PLAIN', '--auth-user', USER, '--auth-password', 'wrong']],
      ] as const) {
        const r = await swaks(source, marker('gate-noauth'), USER, { tls: true, auth });
        const out = `${r.stdout}${r.stderr}`;
        assert.notEqual(r.code, 0, out);
        assert.match(out, /TLS started with cipher TLSv1\.3:/, out);
        assert.ok(refused(out, NO_AUTH), out);
        const d = await decisionFor(source);
        assert.deepEqual([d['condition'], d['values']], ['not authenticated', { authenticated: null }], JSON.stringify(d));
      }
    }));

  test('an authenticated user over TLS gets through (accepted on tls-version and tls-cipher); the blocked user is refused by `auth-user in`', () =>
    smtpd.withLog(async () => {
      const subject = marker('gate-alice');
      const ok = await swaks('127.0.0.54', subject, USER, { tls: true, auth: ['--auth', 'PLAIN', '--auth-user', USER, '--auth-password', PASSWORD] });
      assert.equal(ok.code, 0, `${ok.stdout}${ok.stderr}`);
      await smtpd.waitForMessage((m) => m.text.includes(subject));
      const accepted = await decisionFor('127.0.0.54');
      assert.equal(accepted['decision'], 'accept', JSON.stringify(accepted));
      const values = accepted['values'] as Record<string, unknown>;
      assert.equal(values['tls-version'], 'TLSv1.3', JSON.stringify(accepted));
      assert.match(String(values['tls-cipher']), /^[A-Z0-9_]+$/, JSON.stringify(accepted));

      const r = await swaks('127.0.0.55', marker('gate-bob'), BLOCKED_USER, { tls: true, auth: ['--auth', 'PLAIN', '--auth-user', BLOCKED_USER, '--auth-password', PASSWORD] });
      const out = `${r.stdout}${r.stderr}`;
      assert.notEqual(r.code, 0, out);
      assert.match(out, /<~ {1,2}235 .*Authentication succeeded/, out);
      assert.ok(refused(out, BLOCKED), out);
      const d = await decisionFor('127.0.0.55');
      assert.deepEqual([d['condition'], d['values']], [`auth-user in { ${BLOCKED_USER} }`, { 'auth-user': BLOCKED_USER }], JSON.stringify(d));
    }));
});
