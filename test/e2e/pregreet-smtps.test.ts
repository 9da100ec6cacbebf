/**
 * `pause 1s pregreet disconnect` on an smtps (implicit TLS) listener, in real
 * smtpd 7.8 (Debian's 6.8 cannot do TLS with OpenSSL 3). One smtpd, two
 * listeners sharing the filter: plain SMTP on the harness port, smtps on 465.
 *
 *  - `swaks --tlsc` on 465 (its ClientHello waits in the socket during the
 *    pause) gets the banner after the pause, through TLS, and delivers;
 *  - a plaintext early talker on the plain listener is still refused;
 *  - what the filter heard of the smtps session (its --record) is in the order
 *    read from smtpd's source: link-connect, connect request, our answer, and
 *    only then link-tls, before any link-identify;
 *  - the old behaviour, for contrast: a filter told there is no smtps port
 *    (`--smtps-ports none`) refuses the smtps client, in plain text.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { replyText } from './harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, FILTER_USER, filterRuntime, makeOpenTempDir, tlsSmtpd } from './harness/env.js';
import { marker, mailSteps, RECIPIENT, transcript } from './harness/mail.js';
import { FILTER_NAME, SERVER_V4, Smtpd } from './harness/smtpd.js';
import { makePki, PKI_NAME } from './harness/tls.js';

const PAUSE_MS = 1000;
const SMTPS_PORT = 465;
const REPLY = '554 5.5.1 Protocol error: data sent before the greeting';
const RULES = `# test/e2e/pregreet-smtps.test.ts
chain inbound =
    pause ${PAUSE_MS / 1000}s pregreet disconnect
`;

const e2eSkip = e2eSkipReason();
const built = tlsSmtpd();
const skip = e2eSkip ?? ('skip' in built ? built.skip : null);

/** The smtps listener beside the harness's plain one, with a self-signed certificate. */
function smtpsConfig(dir: string): string[] {
  return [...makePki(dir), `listen on ${SERVER_V4} port ${SMTPS_PORT} smtps pki ${PKI_NAME} filter "${FILTER_NAME}"`];
}

function start(extraArgs: readonly string[], record?: string): Promise<Smtpd> {
  if ('skip' in built) throw new Error(built.skip);
  const rt = filterRuntime();
  return Smtpd.start({
    smtpd: built,
    files: { 'inbound.rules': RULES },
    filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), ...extraArgs, ...(record !== undefined ? ['--record', record] : []), join(dir, 'inbound.rules')],
    extraConfig: (dir) => smtpsConfig(dir),
  });
}

/** swaks over implicit TLS to the smtps listener, from inside the namespace. */
function swaksTlsc(smtpd: Smtpd, subject: string) {
  return smtpd.exec(
    'swaks',
    ['--server', `${SERVER_V4}:${SMTPS_PORT}`, '--tlsc', '--helo', 'client.example', '--from', 'a@example.net', '--to', RECIPIENT, '--header', `Subject: ${subject}`, '--timeout', '20'],
    30_000,
  );
}

describe('pregreet on an smtps listener (real smtpd 7.8, implicit TLS)', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;
  let recordDir: string;

  before(async () => {
    // The filter (as opensmtpd) writes its recording here.
    recordDir = makeOpenTempDir('filter-rules-e2e-rec-');
    const uid = Number(execFileSync('id', ['-u', FILTER_USER], { encoding: 'utf8' }).trim());
    chownSync(recordDir, uid, -1);
    smtpd = await start([], join(recordDir, 'filter.rec'));
  });
  after(async () => {
    await smtpd?.stop();
    if (recordDir !== undefined) rmSync(recordDir, { recursive: true, force: true });
  });
  afterEach(() => {
    if (smtpd?.stopped !== true) smtpd?.assertHealthy();
  });

  test('swaks --tlsc on 465 gets the banner after the pause, through TLS, and its mail is delivered', () =>
    smtpd.withLog(async () => {
      const subject = marker('smtps');
      const r = await swaksTlsc(smtpd, subject);
      const out = `${r.stdout}${r.stderr}`;
      assert.equal(r.code, 0, out);
      assert.match(out, /TLS started/, out);
      assert.match(out, /<~ {1,2}220 /, 'the banner came through TLS');
      assert.doesNotMatch(out, /554 5\.5\.1/, out);
      await smtpd.waitForMessage((m) => m.text.includes(subject));
      await smtpd.waitForLog((l) => l.startsWith(`${FILTER_NAME}: `) && l.includes('pregreet is not applied on this port') && l.includes(`"port":${SMTPS_PORT}`));
      // The port guess agreed with what smtpd reported: no warning about it.
      assert.equal(smtpd.filterRecords().filter((r) => /--smtps-ports/.test(r.msg)).length, 0, smtpd.logTail());
    }));

  test('a plaintext early talker on the plain listener is still refused with 554 before the banner', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: '127.0.0.31', early: 'EHLO early.example\r\n', steps: mailSteps({ helo: 'early.example', from: 'a@example.net' }) });
      const t = transcript(r);
      assert.equal(replyText(r.banner), REPLY, t);
      assert.ok(r.closedByServer, t);
      await smtpd.waitForLog((l) => l.startsWith(`${FILTER_NAME}: `) && l.includes('"pregreet":"talked"') && l.includes('127.0.0.31'));
    }));

  test('the filter heard the smtps session in the order read from the source: TLS only after our connect answer, before any HELO', () =>
    smtpd.withLog(async () => {
      const lines = readFileSync(join(recordDir, 'filter.rec'), 'utf8').split('\n');
      const connect = lines.find((l) => l.includes('|link-connect|') && l.endsWith(`:${SMTPS_PORT}`));
      assert.ok(connect !== undefined, lines.join('\n'));
      const sid = connect.split('|')[5] ?? '';
      const mine = lines.filter((l) => l.includes(`|${sid}|`) || l.endsWith(`|${sid}`));
      const at = (re: RegExp): number => mine.findIndex((l) => re.test(l));
      const order = [at(/\|link-connect\|/), at(/\|connect\|/), at(/^< filter-result\|/), at(/\|link-tls\|/), at(/\|link-identify\|/)];
      assert.ok(order.every((i) => i >= 0), mine.join('\n'));
      assert.deepEqual([...order].sort((a, b) => a - b), order, mine.join('\n'));
      assert.match(mine[order[2] ?? 0] ?? '', /\|proceed$/);
      assert.match(mine[order[3] ?? 0] ?? '', /\|link-tls\|[^|]+\|TLSv1\.[23]:/);
      // The handshake, hence the banner, waited for the pause (smtpd's own timestamps).
      const ts = (i: number | undefined): number => Number((mine[i ?? 0] ?? '').split('|')[2]) * 1000;
      assert.ok(ts(order[3]) - ts(order[1]) >= PAUSE_MS - 5, mine.join('\n'));
      // For the integration test that replays it (test/integration/pregreet/smtps.test.ts).
      if (process.env['SAVE_SMTPS_TRANSCRIPT'] !== undefined) writeFileSync(process.env['SAVE_SMTPS_TRANSCRIPT'], `${mine.join('\n')}\n`);
    }));

  test('for contrast, --smtps-ports none (as before the fix): the smtps client is refused, in plain text', async () => {
    const old = await start(['--smtps-ports', 'none']);
    try {
      await old.withLog(async () => {
        const r = await swaksTlsc(old, marker('smtps-old'));
        const out = `${r.stdout}${r.stderr}`;
        assert.notEqual(r.code, 0, out);
        // The 554 came as plain text where the client expected a TLS record.
        assert.match(out, /TLS startup failed.*wrong version number/, out);
        await old.waitForLog((l) => l.startsWith(`${FILTER_NAME}: `) && l.includes('"pregreet":"talked"'));
        old.assertHealthy();
      });
    } finally {
      await old.stop();
    }
  });
});
