/**
 * Hot reload and the sessions it happens under, in real smtpd (E2E_SMTPD: 6.8 or 7.8) (issue 4):
 *
 *  - a session keeps the rules it started with until it ends: held open after EHLO
 *    across a reload to rules that refuse its sender, it is still judged by the old
 *    rules, while a new session gets the new ones (no session mixes two rule sets);
 *  - a session paused when the reload happens gets its banner on time;
 *  - greylisting state survives: a triplet seen before the reload is known after it.
 *
 * One smtpd and one filter process for the whole file (pids checked after each
 * test). No fixed sleeps wait for reloads: the tests wait for the reload's log line.
 * The one deliberate wait is the greylisting delay itself.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { DialogResult } from './harness/dialog.js';
import { replyText } from './harness/dialog.js';
import { e2eSkipReason, FILTER_USER, makeOpenTempDir } from './harness/env.js';
import { exchangeFor, mailSteps, transcript } from './harness/mail.js';
import { Smtpd } from './harness/smtpd.js';
import type { FilterLogRecord } from './harness/smtpd.js';
import { waitFor } from './harness/wait.js';

const RULES = 'sessions.rules';
const GREYLIST_DELAY_MS = 1000;


function applied(smtpd: Smtpd): FilterLogRecord[] {
  return smtpd.filterRecords().filter((r) => r['event'] === 'reload' && r['outcome'] === 'applied' && r.level === 'info');
}

const skip = e2eSkipReason();

describe('hot reload in real smtpd: sessions in progress and state', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;
  let processes: { readonly smtpd: number; readonly filter: number };
  let stateDir: string;
  let store: string;

  /** Every rules version of this file: the greylisting step stays the same in all of them. */
  function rulesText(steps: readonly string[]): string {
    return ['# test/e2e/reload-sessions.test.ts', 'chain main =', ...steps.map((s, i) => `    ${i === 0 ? '' : 'then '}${s}`), ''].join('\n');
  }

  /** Replaces the rules file the way deploy tools do, and waits for the reload to be applied. */
  async function reloadTo(steps: readonly string[]): Promise<FilterLogRecord> {
    const before = applied(smtpd).length;
    const path = join(smtpd.dir, RULES);
    writeFileSync(`${path}.tmp`, rulesText(steps));
    renameSync(`${path}.tmp`, path);
    return smtpd.withLog(() => waitFor(() => applied(smtpd)[before], { timeoutMs: 5000, what: 'the reload to be applied' }));
  }

  function mail(r: DialogResult): string {
    return replyText(exchangeFor(r, 'MAIL')?.reply);
  }

  before(async () => {
    // The greylisting database must be writable by the filter's user.
    stateDir = makeOpenTempDir('filter-rules-e2e-state-');
    const uid = Number(execFileSync('id', ['-u', FILTER_USER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', FILTER_USER], { encoding: 'utf8' }).trim());
    chownSync(stateDir, uid, gid);
    store = `sqlite:${join(stateDir, 'greylist.db')}`;

    ({ smtpd, processes } = await Smtpd.startWithRules(RULES, {
      files: { [RULES]: rulesText(['reject "550 5.7.1 refused by rules A" when mail-from ~ /^a-only@/']) },
    }));
  });
  after(async () => {
    await smtpd?.stop();
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });
  afterEach(() => smtpd.assertSameProcesses(processes));

  test('a session keeps the rules it started with; a new session gets the new rules', async () => {
    const reached = join(smtpd.dir, 'held.reached');
    const release = join(smtpd.dir, 'held.release');
    // Under rules A: EHLO, then held open.
    const held = smtpd.dialog({
      localAddress: '127.0.0.8',
      steps: [
        { kind: 'command', line: 'EHLO held.example.net' },
        { kind: 'hold', reachedFile: reached, releaseFile: release },
        { kind: 'command', line: 'MAIL FROM:<held@example.net>' },
        { kind: 'command', line: 'RCPT TO:<mailtest@localhost>' },
        { kind: 'command', line: 'QUIT' },
      ],
    });
    await smtpd.withLog(() => waitFor(() => existsSync(reached), { timeoutMs: 10_000, what: 'the held session to reach EHLO' }));

    // Rules B refuse the held session's sender, and no longer refuse a-only@.
    const record = await reloadTo(['reject "550 5.7.1 refused by rules B" when mail-from ~ /^held@/']);
    assert.match(record.msg, /chain main: 1 step changed/);

    // A new session: rules B.
    const fresh = await smtpd.dialog({ localAddress: '127.0.0.9', steps: mailSteps({ helo: 'new.example.net', from: 'held@example.net' }) });
    assert.equal(mail(fresh), '550 5.7.1 refused by rules B', transcript(fresh));
    const freshA = await smtpd.dialog({ localAddress: '127.0.0.9', steps: mailSteps({ helo: 'new.example.net', from: 'a-only@example.net' }) });
    assert.match(mail(freshA), /^250 /, transcript(freshA));

    // The held session goes on: still rules A, so its sender is accepted.
    writeFileSync(release, '');
    const r = await held;
    const t = transcript(r);
    assert.equal(exchangeFor(r, 'EHLO')?.reply?.code, 250, t);
    assert.match(mail(r), /^250 /, `the held session was judged by the new rules\n${t}`);
    assert.equal(exchangeFor(r, 'RCPT')?.reply?.code, 250, t);
    assert.equal(exchangeFor(r, 'QUIT')?.reply?.code, 221, t);
  });

  test('a session paused during a reload gets its banner on time; the next one has the new pause', async () => {
    await reloadTo(['pause 2s']);
    const paused = smtpd.dialog({ localAddress: '127.0.0.10', steps: mailSteps({ helo: 'paused.example.net', from: 'p@example.net' }) });
    // smtpd logs the session before it asks the filter; the reload below takes at
    // least the 200 ms quiet period, by which time the filter has seen the connect.
    await smtpd.waitForLog(/smtp connected address=127\.0\.0\.10 /, 5000);
    const reload = await reloadTo(['pause 100ms']);
    const r = await paused;
    const t = transcript(r);
    assert.equal(r.banner?.code, 220, t);
    const bannerAt = r.startedAtEpochMs + r.banner.at;
    assert.ok(Date.parse(reload.time) < bannerAt, `the reload (${reload.time}) came after the banner (${new Date(bannerAt).toISOString()})\n${t}`);
    // Neither cut short by the new 100 ms pause nor restarted by the reload.
    assert.ok(r.banner.at >= 2000 - 5, `banner after ${r.banner.at} ms\n${t}`);
    assert.ok(r.banner.at < 3000, `banner after ${r.banner.at} ms\n${t}`);
    assert.equal(exchangeFor(r, 'QUIT')?.reply?.code, 221, t);

    const next = await smtpd.dialog({ localAddress: '127.0.0.10', steps: mailSteps({ helo: 'next.example.net', from: 'p@example.net' }) });
    assert.ok((next.banner?.at ?? Infinity) < 1000, transcript(next));
  });

  test('greylisting state survives a reload: a triplet seen before it is known after it', async () => {
    const greylist = `greylist delay ${GREYLIST_DELAY_MS / 1000}s store "${store}"`;
    await reloadTo([greylist]);
    const first = await smtpd.dialog({ localAddress: '127.0.0.11', steps: mailSteps({ helo: 'grey.example.net', from: 'grey@example.net' }) });
    const firstAt = Date.now();
    assert.match(replyText(exchangeFor(first, 'RCPT')?.reply), /^451 4\.7\.1 Greylisted/, transcript(first));

    // Another rules version, with the same greylisting step.
    const record = await reloadTo([greylist, 'reject "550 5.7.1 nobody" when mail-from ~ /^nobody@/']);
    assert.match(record.msg, /chain main: 1 step added;/);

    // Wait out the greylisting delay. With the state lost, the retry below would be a
    // first attempt again and get another 451.
    const left = firstAt + GREYLIST_DELAY_MS + 200 - Date.now();
    if (left > 0) await delay(left);
    const retry = await smtpd.dialog({ localAddress: '127.0.0.11', steps: mailSteps({ helo: 'grey.example.net', from: 'grey@example.net' }) });
    assert.equal(exchangeFor(retry, 'RCPT')?.reply?.code, 250, transcript(retry));
    // Greylisting itself still runs: a triplet never seen is deferred.
    const other = await smtpd.dialog({ localAddress: '127.0.0.11', steps: mailSteps({ helo: 'grey.example.net', from: 'other@example.net' }) });
    assert.match(replyText(exchangeFor(other, 'RCPT')?.reply), /^451 /, transcript(other));
  });
});
