/**
 * Built-in greylisting with the embedded SQLite store, in real smtpd (E2E_SMTPD: 6.8 or 7.8) with the
 * real filter: examples/builtin-greylist-sqlite/greylist.rules with a 2 s delay
 * instead of 5 m, a 100 ms pause instead of 3 s, and the database in a temp state
 * directory created like the README says (owned by opensmtpd, mode 0750).
 *
 * The example trusts 127/8, so senders come from 198.51.100.0/24 (TEST-NET-2),
 * made local on the namespace's loopback.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { DialogResult } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, FILTER_USER, filterRuntime, makeOpenTempDir } from '../harness/env.js';
import { delivered, exampleRules, makeStateDir, rcptReply, retryUntilDelivered, type StateDir } from '../harness/greylist.js';
import { buildMessage, mailSteps, marker, transcript } from '../harness/mail.js';
import { Smtpd } from '../harness/smtpd.js';

const skip = e2eSkipReason();

const DELAY_MS = 2000;
const NET = '198.51.100';
const GREYLISTED = /^451 4\.7\.1 Greylisted, please try again in [12] seconds?$/;
const TEMPFAIL = '451 4.3.0 Temporary failure, please try again later';
/** Two hosts of one /64 (documentation prefix), made local on the namespace's lo. */
const V6_HOSTS = ['2001:db8:1::5', '2001:db8:1::6'] as const;

function ipv6Usable(): boolean {
  try {
    return readFileSync('/proc/sys/net/ipv6/conf/default/disable_ipv6', 'utf8').trim() === '0';
  } catch {
    return false;
  }
}
const ipv6 = ipv6Usable();

function rulesFor(dbFile: string): string {
  return exampleRules('builtin-greylist-sqlite/greylist.rules', [
    ['pause 3s', 'pause 100ms'],
    ['delay 5m', `delay ${DELAY_MS / 1000}s`],
    ['sqlite:/var/lib/filter-rules/greylist.db', `sqlite:${dbFile}`],
  ]);
}

function startSmtpd(rules: string): Promise<Smtpd> {
  const rt = filterRuntime();
  return Smtpd.start({
    files: { 'greylist.rules': rules },
    filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'greylist.rules')],
    loopbackNets: [`${NET}.1/24`, ...(ipv6 ? V6_HOSTS.map((h) => `${h}/128`) : [])],
    ipv6,
  });
}

function send(smtpd: Smtpd, from: string, localAddress: string, subject = marker('sqlite')): Promise<DialogResult> {
  return smtpd.dialog({
    localAddress,
    ...(localAddress.includes(':') ? { host: '::1' } : {}),
    timeoutMs: 10_000,
    steps: mailSteps({ helo: 'mail.lists.example', from, message: buildMessage({ from, subject, body: 'built-in greylisting' }) }),
  });
}

describe('built-in greylisting with SQLite in real smtpd', { skip: skip ?? false }, () => {
  let dir: StateDir;
  let db: string;
  let smtpd: Smtpd;

  before(async () => {
    dir = makeStateDir();
    db = join(dir.state, 'greylist.db');
    smtpd = await startSmtpd(rulesFor(db));
  });
  after(async () => {
    await smtpd?.stop();
    if (dir !== undefined) rmSync(dir.root, { recursive: true, force: true });
  });
  afterEach(() => {
    if (!smtpd.stopped) smtpd.assertHealthy();
  });

  test('the filter created the database at startup, as opensmtpd', () => {
    assert.ok(existsSync(db), `${db} missing\n${smtpd.logTail()}`);
    const uid = Number(execFileSync('id', ['-u', FILTER_USER], { encoding: 'utf8' }).trim());
    assert.equal(statSync(db).uid, uid);
  });

  test('first attempt 451; retries (another host of the /24, a new VERP tag) pass after the delay, with X-Greylist', () =>
    smtpd.withLog(async () => {
      const subject = marker('sqlite-first');
      // A mailing list retrying from its pool with a fresh bounce tag each time: the
      // same triplet once the address is cut to its /24 and the tag is dropped.
      const { attempts, elapsedMs } = await retryUntilDelivered(
        (n) => send(smtpd, `news+${1000 + n}@lists.example`, `${NET}.${10 + (n % 3)}`, subject),
        { boundMs: DELAY_MS + 8000 },
      );
      const first = attempts[0] as DialogResult;
      assert.match(rcptReply(first)?.text ?? '', GREYLISTED, transcript(first));
      assert.ok(attempts.length >= 3, `only ${attempts.length} attempts:\n${attempts.map(transcript).join('\n\n')}`);
      assert.ok(elapsedMs >= DELAY_MS, `delivered after ${elapsedMs} ms, before the ${DELAY_MS} ms delay`);

      const m = await smtpd.waitForMessage((x) => x.text.includes(subject));
      const headers = m.headerLines.filter((h) => h.startsWith('X-Greylist:'));
      assert.equal(headers.length, 1, m.text);
      const header = headers[0] ?? '';
      const escapedHost = hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      assert.match(header, new RegExp(`^X-Greylist: delayed (\\d+) seconds by filter-rules-\\d+\\.\\d+\\.\\d+\\S* at ${escapedHost}; \\w{3}, \\d{2} \\w{3} \\d{4} \\d{2}:\\d{2}:\\d{2} [+-]\\d{4}$`));
      assert.ok(Number(/delayed (\d+)/.exec(header)?.[1]) >= DELAY_MS / 1000, header);
      assert.equal(m.headerLines.indexOf(header) + 1, m.headerLines.findIndex((h) => h.startsWith('Received:')), m.text);

      // The first refusal and the pass are logged with the rule's place and the triplet's parts.
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('"greylist":"new"') && l.includes('greylist.rules:11') && l.includes(`"network":"${NET}.0"`));
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('retried after the delay: passed') && l.includes('"sender":"news@lists.example"'));
    }));

  test('after that, the same sender passes at once, without a header; a new one is still greylisted', () =>
    smtpd.withLog(async () => {
      const subject = marker('sqlite-known');
      const known = await send(smtpd, 'news+777@lists.example', `${NET}.12`, subject);
      assert.ok(delivered(known), transcript(known));
      const m = await smtpd.waitForMessage((x) => x.text.includes(subject));
      assert.ok(!m.headerLines.some((h) => h.startsWith('X-Greylist:')), m.text);
      const stranger = await send(smtpd, 'someone@else.example', `${NET}.12`);
      assert.match(rcptReply(stranger)?.text ?? '', GREYLISTED, transcript(stranger));
    }));

  test('BATV as postgrey reads it: a fresh prvs= tag is the known sender, upper-case PRVS= is not BATV', () =>
    smtpd.withLog(async () => {
      const signed = await send(smtpd, 'prvs=0042c0ffee=news@lists.example', `${NET}.12`);
      assert.ok(delivered(signed), transcript(signed));
      const upper = await send(smtpd, 'PRVS=0042c0ffee=news@lists.example', `${NET}.12`);
      assert.match(rcptReply(upper)?.text ?? '', GREYLISTED, transcript(upper));
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('"greylist":"new"') && l.includes('"sender":"prvs=0042c0ffee=news@lists.example"'));
    }));

  test('IPv6: clients of one /64 count as one', { skip: ipv6 ? false : 'IPv6 disabled on this machine' }, () =>
    smtpd.withLog(async () => {
      const subject = marker('sqlite-v6');
      const { attempts } = await retryUntilDelivered((n) => send(smtpd, 'carol@v6.example', V6_HOSTS[n % 2] as string, subject), {
        boundMs: DELAY_MS + 8000,
      });
      assert.match(rcptReply(attempts[0] as DialogResult)?.text ?? '', GREYLISTED);
      assert.ok(attempts.length >= 3, attempts.map(transcript).join('\n\n'));
      await smtpd.waitForMessage((x) => x.text.includes(subject));
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('"greylist":"new"') && l.includes('"network":"2001:db8:1::"'));
    }));

  test('a trusted client (127/8) is never greylisted', () =>
    smtpd.withLog(async () => {
      const r = await send(smtpd, 'local@here.example', '127.0.0.1');
      assert.ok(delivered(r), transcript(r));
    }));

  test('the database survives a restart: stop smtpd and the filter, start again, the passed triplet passes at once', async () => {
    const { killed } = await smtpd.stop();
    assert.deepEqual(killed, [], 'smtpd or the filter had to be killed');
    smtpd = await startSmtpd(rulesFor(db));
    await smtpd.withLog(async () => {
      const r = await send(smtpd, 'news+4242@lists.example', `${NET}.10`);
      assert.ok(delivered(r), transcript(r));
      const fresh = await send(smtpd, 'first-time@new.example', `${NET}.10`);
      assert.match(rcptReply(fresh)?.text ?? '', GREYLISTED, transcript(fresh));
    });
  });
});

describe('built-in greylisting with SQLite: a state directory the filter cannot write', { skip: skip ?? false }, () => {
  let root: string;
  let smtpd: Smtpd;

  before(async () => {
    // The admin forgot `chown opensmtpd`: root's 0755 directory.
    root = makeOpenTempDir('filter-rules-e2e-state-');
    const locked = join(root, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o755);
    smtpd = await startSmtpd(rulesFor(join(locked, 'greylist.db')));
  });
  after(async () => {
    await smtpd?.stop();
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  test('smtpd and the filter start; the error is logged; recipients get 451 (on-error tempfail), never 5xx', () =>
    smtpd.withLog(async () => {
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('greylist store cannot be opened'));
      const started = Date.now();
      const r = await send(smtpd, 'alice@example.net', `${NET}.20`);
      assert.equal(rcptReply(r)?.text, TEMPFAIL, transcript(r));
      assert.ok(Date.now() - started < 5000, transcript(r));
      // A trusted client is accepted before the greylist step: mail from it still flows.
      assert.ok(delivered(await send(smtpd, 'local@here.example', '127.0.0.1')));
      smtpd.assertHealthy();
    }));
});
