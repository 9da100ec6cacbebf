/**
 * Helpers for the greylisting end-to-end tests: the example rules files turned into
 * test rules (short delay, temp paths) by checked substitutions, a state directory
 * the filter user can write, and the sender's side of greylisting: retry until the
 * message is accepted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { DialogResult } from './dialog.js';
import { FILTER_USER, makeOpenTempDir, PROJECT_ROOT } from './env.js';
import { exchangeFor, transcript } from './mail.js';

/**
 * The text of examples/`relPath`, with each `[from, to]` replaced. Every `from`
 * must occur exactly once, so an edited example cannot silently stop being what
 * the test runs.
 */
export function exampleRules(relPath: string, replacements: ReadonlyArray<readonly [string, string]> = []): string {
  let text = readFileSync(join(PROJECT_ROOT, 'examples', relPath), 'utf8');
  for (const [from, to] of replacements) {
    const count = text.split(from).length - 1;
    assert.equal(count, 1, `examples/${relPath}: expected ${JSON.stringify(from)} exactly once, found it ${count} times`);
    text = text.replace(from, to);
  }
  return text;
}

export interface StateDir {
  /** 0755 temp dir (removed by the caller). */
  readonly root: string;
  /** root/state: 0750, owned by the filter user, like /var/lib/filter-rules. */
  readonly state: string;
}

/** A greylist state directory as an admin would create it: `install -d -o opensmtpd -m 0750`. */
export function makeStateDir(): StateDir {
  const root = makeOpenTempDir('filter-rules-e2e-state-');
  const state = join(root, 'state');
  mkdirSync(state, { mode: 0o750 });
  const uid = Number(execFileSync('id', ['-u', FILTER_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', FILTER_USER], { encoding: 'utf8' }).trim());
  chownSync(state, uid, gid);
  return { root, state };
}

/** The reply to RCPT (null when the dialog never got that far). */
export function rcptReply(r: DialogResult): { code: number; text: string } | null {
  const reply = exchangeFor(r, 'RCPT')?.reply ?? null;
  return reply === null ? null : { code: reply.code, text: reply.lines.join('\n') };
}

/** The message was accepted (250 after the final dot). */
export function delivered(r: DialogResult): boolean {
  return exchangeFor(r, '<message>')?.reply?.code === 250;
}

export interface RetryOptions {
  /** Pause between the end of one attempt and the next (a quick sender). Default 250 ms. */
  readonly intervalMs?: number;
  /** Give up (fail) after this long. */
  readonly boundMs: number;
}

export interface RetryResult {
  readonly attempts: readonly DialogResult[];
  /** From the start of the first attempt to the end of the accepted one. */
  readonly elapsedMs: number;
}

/**
 * What a sending MTA does when greylisted, only faster: try, and after a temporary
 * failure try again, until the message is accepted. Any 5xx anywhere, a timed-out
 * dialog or running past `boundMs` fails the test. `attempt(n)` runs attempt n (0-based).
 */
export async function retryUntilDelivered(attempt: (n: number) => Promise<DialogResult>, opts: RetryOptions): Promise<RetryResult> {
  const started = Date.now();
  const attempts: DialogResult[] = [];
  for (let n = 0; ; n++) {
    const r = await attempt(n);
    attempts.push(r);
    const t = transcript(r);
    assert.equal(r.timedOut, false, `attempt ${n} timed out\n${t}`);
    const permanent = r.exchanges.find((e) => (e.reply?.code ?? 0) >= 500);
    assert.equal(permanent, undefined, `attempt ${n} got a permanent failure\n${t}`);
    if (delivered(r)) return { attempts, elapsedMs: Date.now() - started };
    const rcpt = rcptReply(r);
    assert.ok(rcpt !== null && rcpt.code >= 400 && rcpt.code < 500, `attempt ${n}: expected a 4xx at RCPT or delivery\n${t}`);
    assert.ok(Date.now() - started < opts.boundMs, `not delivered within ${opts.boundMs} ms after ${attempts.length} attempts\n${t}`);
    await delay(opts.intervalMs ?? 250);
  }
}

/**
 * A fresh local part for each call, letters only: greylisting folds numbers in
 * senders away (`user-123@` and `user-456@` are the same sender, as in postgrey),
 * so counters would make every "new" sender the same one.
 */
export function senderNames(prefix: string): () => string {
  let n = 0;
  return () => {
    let k = n++;
    let s = '';
    do {
      s = String.fromCharCode(97 + (k % 26)) + s;
      k = Math.floor(k / 26);
    } while (k > 0);
    return `${prefix}-${s}`;
  };
}
