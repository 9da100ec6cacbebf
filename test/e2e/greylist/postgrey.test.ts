/**
 * Greylisting through a real postgrey 1.37, asked by the real filter in real smtpd
 * (E2E_SMTPD: 6.8 or 7.8), end to end: the SMTP client's replies, the delivered maildir file, and what
 * happens when postgrey is gone or hung.
 *
 * postgrey runs as usual (started as root, drops to `postgrey`) on a unix socket in
 * a temp dir; that dir is mounted at /run/postgrey inside smtpd's mount namespace,
 * so the rules are examples/pause-postgrey/antispam.rules VERBATIM:
 *
 *     chain antispam = pause 3s then postgrey unix:/run/postgrey/postgrey.sock
 *
 * and the filter, running as `opensmtpd`, reaches postgrey exactly as it would on a
 * Debian host set up like examples/pause-postgrey/README.md says. The TCP variant
 * (antispam-tcp.rules, Debian's stock 127.0.0.1:10023) runs postgrey inside a network
 * namespace that smtpd joins.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { Postgrey, postgreyUnavailable } from '../../integration/policy/postgrey.js';
import type { DialogResult } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { delivered, exampleRules, rcptReply, retryUntilDelivered, senderNames } from '../harness/greylist.js';
import { buildMessage, mailSteps, marker, transcript } from '../harness/mail.js';
import { NetworkNamespace } from '../harness/netns.js';
import { Smtpd } from '../harness/smtpd.js';
import { waitFor } from '../harness/wait.js';

const skip = e2eSkipReason() ?? postgreyUnavailable();

const PAUSE_MS = 3000;
/** postgrey's --delay, seconds. */
const DELAY_S = 2;
const SOCKET_DIR = '/run/postgrey';
/** postgrey's greylisting answer (`DEFER_IF_PERMIT 4.2.0 Greylisted, …`), as the filter turns it into a reply. */
const POSTGREY_DEFER = /^450 4\.2\.0 Greylisted, see https?:\/\/postgrey\.schweikert\.ch\/help\/localhost\.html$/;
/** The filter's own tempfail when a step fails (default on-error tempfail). */
const TEMPFAIL = '451 4.3.0 Temporary failure, please try again later';

function startSmtpd(rules: string, pg: Postgrey, port?: number): Promise<Smtpd> {
  const rt = filterRuntime();
  return Smtpd.start({
    files: { 'antispam.rules': rules },
    filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'antispam.rules')],
    binds: { [SOCKET_DIR]: pg.dir },
    ...(port === undefined ? {} : { port }),
  });
}

/** One complete attempt to send a message; `from` makes the triplet. */
function send(smtpd: Smtpd, from: string, subject: string, localAddress = '127.0.0.20'): Promise<DialogResult> {
  return smtpd.dialog({
    localAddress,
    timeoutMs: 15_000,
    steps: mailSteps({ helo: 'mail.example.net', from, message: buildMessage({ from, subject, body: 'greylisting test' }) }),
  });
}

describe('postgrey in real smtpd: examples/pause-postgrey/antispam.rules verbatim', { skip: skip ?? false }, () => {
  let pg: Postgrey;
  let smtpd: Smtpd;

  before(async () => {
    pg = await Postgrey.start(DELAY_S);
    smtpd = await startSmtpd(exampleRules('pause-postgrey/antispam.rules'), pg);
  });
  after(async () => {
    await smtpd?.stop();
    await pg?.dispose();
  });

  test('the rules file is the blog-post line', () => {
    assert.match(exampleRules('pause-postgrey/antispam.rules'), /^chain antispam = pause 3s then postgrey unix:\/run\/postgrey\/postgrey\.sock$/m);
  });

  test('first attempt: pause, then postgrey’s 450; a retry after the delay is delivered with X-Greylist', () =>
    smtpd.withLog(async () => {
      const subject = marker('postgrey');
      const from = 'alice@sender.example';
      const { attempts, elapsedMs } = await retryUntilDelivered(() => send(smtpd, from, subject), { boundMs: 30_000 });
      const first = attempts[0] as DialogResult;
      const t = transcript(first);
      assert.ok((first.banner?.at ?? 0) >= PAUSE_MS - 5, `banner after ${first.banner?.at} ms\n${t}`);
      assert.match(rcptReply(first)?.text ?? '', POSTGREY_DEFER, t);
      // Every retry also waits 3 s for its banner, longer than the 2 s delay: the
      // second attempt is the one that gets through.
      assert.equal(attempts.length, 2, attempts.map(transcript).join('\n\n'));
      assert.ok(elapsedMs >= 2 * PAUSE_MS, `delivered after ${elapsedMs} ms`);

      const m = await smtpd.waitForMessage((x) => x.text.includes(subject));
      const header = m.headerLines.find((h) => h.startsWith('X-Greylist:'));
      assert.ok(header !== undefined, m.text);
      assert.match(header, /^X-Greylist: delayed (\d+) seconds by postgrey-1\.37 at filter-rules-test; /);
      assert.ok(Number(/delayed (\d+) seconds/.exec(header)?.[1]) >= DELAY_S, header);
      // Inserted once, on top of the message smtpd received: above its own Received:
      // (the maildir delivery adds Return-Path and Delivered-To above both).
      assert.equal(m.headerLines.filter((h) => h.startsWith('X-Greylist:')).length, 1, m.text);
      assert.equal(m.headerLines.indexOf(header) + 1, m.headerLines.findIndex((h) => h.startsWith('Received:')), m.text);
      assert.match(m.body, /^greylisting test\n/);

      // The deferral is logged with the rule, the server and its answer.
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('"decision":"reject"') && l.includes('antispam.rules:4') && l.includes('unix:/run/postgrey/postgrey.sock'));
      smtpd.assertHealthy();
    }));
});

describe('postgrey down or hung: tempfail by default, delivered with on-error proceed', { skip: skip ?? false }, () => {
  let pg: Postgrey;
  /** The example with the pause shortened: on-error tempfail (the default). */
  let strict: Smtpd;
  /** The same with `on-error proceed`. */
  let lenient: Smtpd;
  const names = senderNames('sender');
  const sender = (): string => `${names()}@fault.example`;

  /** One attempt on each smtpd, at the same time; each must end well within `boundMs`. */
  async function both(boundMs: number): Promise<{ strict: DialogResult; lenient: DialogResult; subjects: [string, string] }> {
    const subjects: [string, string] = [marker('strict'), marker('lenient')];
    const started = Date.now();
    const [a, b] = await Promise.all([send(strict, sender(), subjects[0]), send(lenient, sender(), subjects[1])]);
    const took = Date.now() - started;
    assert.ok(took < boundMs, `attempts took ${took} ms (bound ${boundMs})\n${transcript(a)}\n\n${transcript(b)}`);
    for (const r of [a, b]) assert.equal(r.timedOut, false, transcript(r));
    return { strict: a, lenient: b, subjects };
  }

  before(async () => {
    pg = await Postgrey.start(60);
    const shortened = (extra: string): string =>
      exampleRules('pause-postgrey/antispam.rules', [
        ['pause 3s', 'pause 100ms'],
        ['postgrey unix:/run/postgrey/postgrey.sock', `postgrey unix:/run/postgrey/postgrey.sock timeout 1s${extra}`],
      ]);
    [strict, lenient] = await Promise.all([startSmtpd(shortened(''), pg, 2525), startSmtpd(shortened(' on-error proceed'), pg, 2526)]);
  });
  after(async () => {
    await Promise.all([strict?.stop(), lenient?.stop()]);
    await pg?.dispose();
  });
  afterEach(() => {
    strict?.assertHealthy();
    lenient?.assertHealthy();
  });

  test('postgrey up: both defer a new triplet (on-error proceed does not skip an answer)', async () => {
    const r = await both(10_000);
    assert.match(rcptReply(r.strict)?.text ?? '', POSTGREY_DEFER, transcript(r.strict));
    assert.match(rcptReply(r.lenient)?.text ?? '', POSTGREY_DEFER, transcript(r.lenient));
  });

  test('postgrey killed (stale socket): 451 tempfail, or delivered without greylisting', async () => {
    await pg.kill();
    const r = await both(10_000);
    assert.equal(rcptReply(r.strict)?.text, TEMPFAIL, transcript(r.strict));
    assert.ok(delivered(r.lenient), transcript(r.lenient));
    const m = await lenient.waitForMessage((x) => x.text.includes(r.subjects[1]));
    assert.ok(!m.headerLines.some((h) => h.startsWith('X-Greylist:')), m.text);
    await strict.waitForLog((l) => l.startsWith('rules: ') && /policy request failed|step failed/.test(l));
  });

  test('socket missing: the same', async () => {
    rmSync(pg.socket, { force: true });
    const r = await both(10_000);
    assert.equal(rcptReply(r.strict)?.text, TEMPFAIL, transcript(r.strict));
    assert.ok(delivered(r.lenient), transcript(r.lenient));
  });

  test('postgrey hung (SIGSTOP): the 1 s timeout answers, no hang', async () => {
    await pg.launch();
    // Wait for the filters to use the new postgrey (their backoff from the failures ends).
    for (const s of [strict, lenient]) {
      await retryUntilPostgreyAnswers(s);
    }
    pg.pause();
    try {
      const r = await both(8000);
      assert.equal(rcptReply(r.strict)?.text, TEMPFAIL, transcript(r.strict));
      assert.ok(delivered(r.lenient), transcript(r.lenient));
      const rcpt = r.strict.exchanges.find((e) => e.sent.startsWith('RCPT'));
      const mail = r.strict.exchanges.find((e) => e.sent.startsWith('MAIL'));
      const waited = (rcpt?.reply?.at ?? Infinity) - (mail?.reply?.at ?? 0);
      assert.ok(waited >= 900 && waited < 3000, `RCPT answered ${waited} ms after MAIL\n${transcript(r.strict)}`);
    } finally {
      pg.resume();
    }
  });

  test('postgrey back: greylisting again', async () => {
    for (const s of [strict, lenient]) await retryUntilPostgreyAnswers(s);
  });

  /** Sends new triplets until postgrey's own 450 comes back (the client's backoff ends), 10 s at most. */
  async function retryUntilPostgreyAnswers(s: Smtpd): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await send(s, sender(), marker('probe'));
      const reply = rcptReply(r);
      if (reply !== null && POSTGREY_DEFER.test(reply.text)) return;
      assert.ok(reply?.code === 451 || delivered(r), `unexpected answer while postgrey comes back\n${transcript(r)}`);
      assert.ok(Date.now() < deadline, `postgrey not used again within 10 s\n${transcript(r)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
});

describe('postgrey over TCP: examples/pause-postgrey/antispam-tcp.rules (Debian’s default 127.0.0.1:10023)', { skip: skip ?? false }, () => {
  let ns: NetworkNamespace;
  let dbdir: string;
  let smtpd: Smtpd;
  let postgrey: ChildProcess;

  before(async () => {
    ns = await NetworkNamespace.create();
    dbdir = mkdtempSync(join(tmpdir(), 'filter-rules-e2e-postgrey-tcp-'));
    const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgrey'], { encoding: 'utf8' }).trim());
    chownSync(dbdir, id('-u'), id('-g'));
    // As Debian runs it (POSTGREY_OPTS="--inet=10023"), in the namespace smtpd joins.
    postgrey = ns.spawn('/usr/sbin/postgrey', ['--inet=127.0.0.1:10023', `--dbdir=${dbdir}`, '--delay=60', '--user=postgrey', '--group=postgrey']);
    await waitFor(async () => (await ns.exec('ss', ['-ltnH', 'sport = :10023'])).stdout.includes('LISTEN'), {
      timeoutMs: 15_000,
      what: 'postgrey to listen on 127.0.0.1:10023',
    });
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      netns: ns,
      files: { 'antispam.rules': exampleRules('pause-postgrey/antispam-tcp.rules', [['pause 3s', 'pause 100ms']]) },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'antispam.rules')],
    });
  });
  after(async () => {
    await smtpd?.stop();
    await ns?.close();
    if (dbdir !== undefined) rmSync(dbdir, { recursive: true, force: true });
  });

  test('the first attempt gets postgrey’s 450; with postgrey gone, 451', () =>
    smtpd.withLog(async () => {
      const r = await send(smtpd, 'tcp@sender.example', marker('tcp'));
      assert.match(rcptReply(r)?.text ?? '', POSTGREY_DEFER, transcript(r));
      const exited = new Promise((resolve) => postgrey.once('exit', resolve));
      postgrey.kill('SIGKILL');
      await exited;
      const down = await send(smtpd, 'tcp-down@sender.example', marker('tcp-down'));
      assert.equal(rcptReply(down)?.text, TEMPFAIL, transcript(down));
      smtpd.assertHealthy();
    }));
});
