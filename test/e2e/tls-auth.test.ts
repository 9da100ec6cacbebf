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
 *  - what it made of them (SessionFacts `tls`, `authUser`; no rule field tests them
 *    yet): the Postfix policy request of a `policy` step carries them, as
 *    `encryption_protocol`/`encryption_cipher`/`encryption_keysize` and
 *    `sasl_username`, read by a policy server that prints every request.
 *    A failed AUTH is heard (`link-auth|fail|alice`) but authenticates nobody:
 *    `sasl_username` stays empty. (The username comes after the result in 0.7: a
 *    parser that took 0.6's order would make `pass` the user's name.)
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyServerProcess } from '../integration/faults/live.js';
import { e2eSkipReason, FILTER_MAIN, FILTER_USER, filterRuntime, makeOpenTempDir, tlsSmtpd } from './harness/env.js';
import { marker, RECIPIENT } from './harness/mail.js';
import { FILTER_NAME, SERVER_V4, Smtpd, type RunResult } from './harness/smtpd.js';
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
