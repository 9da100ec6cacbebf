/**
 * smtpd slow to read our answers (issue 6, "Backpressure"): the real filter
 * process, its stdout a socket pair (as smtpd gives it) whose reader stops
 * reading, while 10,000 sessions are in flight and a data-line flood comes in.
 * No crash; the filter's memory stays bounded (it stops reading stdin while
 * stdout is full, instead of piling the flood's echo up); once the reader
 * resumes, every request is answered and every data line echoed, in order.
 *
 * Plus the stream edge alone (runOnStreams) with fake streams: paused while
 * stdout needs a drain, resumed at 'drain', and resumed when stdout fails
 * (smtpd gone), so stdin's EOF is still read and the filter exits.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { FilterHost } from '../../../src/runtime/host.js';
import { runOnStreams } from '../../../src/runtime/stdio.js';
import { CountingOracle } from '../../fuzz/protocol/oracle.js';
import { rssMb, waitFor } from './live.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const SESSIONS = 10_000;
/** Sessions that stream a message, each FLOOD_LINES lines of 1 KB: ~100 MB. */
const FLOOD_SESSIONS = 100;
/** How long every connect is held (pause at connect). */
const PAUSE_MS = 3000;
const FLOOD_LINES = 1000;

const sid = (i: number): string => (0x7000000000000000n + BigInt(i)).toString(16);

describe('backpressure: smtpd stops reading our answers', () => {
  test(`${SESSIONS.toLocaleString('en')} sessions in flight and a data-line flood: bounded memory, everything answered after the reader resumes`, { timeout: 120_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'filter-rules-backpressure-'));
    const rules = join(dir, 'flood.rules');
    // A policy step makes the filter register data-line; its server does not exist (on-error proceed).
    writeFileSync(rules, `chain main = pause ${PAUSE_MS / 1000}s then policy unix:${dir}/none.sock timeout 100ms on-error proceed at commit\n`);
    const child = spawn(process.execPath, [MAIN, rules], { stdio: ['pipe', 'pipe', 'pipe'] });
    const oracle = new CountingOracle(1024 * 1024);
    let partial = '';
    let outBytes = 0;
    child.stdout.on('data', (c: Buffer) => {
      outBytes += c.length;
      const parts = (partial + c.toString('latin1')).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) oracle.output(l);
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    let exited: number | null | undefined;
    child.on('exit', (code) => (exited = code));
    let inputBytes = 0;
    const send = (text: string): Promise<void> => {
      const data = Buffer.from(text, 'latin1');
      oracle.input(data);
      inputBytes += data.length;
      return new Promise((resolve) => (child.stdin.write(data) ? resolve() : child.stdin.once('drain', resolve)));
    };
    try {
      await send('config|smtpd-version|6.8.0p2\nconfig|subsystem|smtp-in\nconfig|ready\n');
      await waitFor(() => outBytes > 0, 10_000, 'the registration');
      await delay(300);
      assert.ok(child.pid !== undefined);
      const rss0 = rssMb(child.pid);

      // 10,000 sessions connect; every connect is held by a 3 s pause: all in flight at once.
      const connectsSent = Date.now();
      for (let b = 0; b < SESSIONS; b += 500) {
        let s = '';
        for (let i = b; i < b + 500; i++) {
          s += `report|0.6|1.0|smtp-in|link-connect|${sid(i)}|x.example|pass|10.0.${(i >> 8) & 255}.${i & 255}:1000|127.0.0.1:25\n`;
          s += `filter|0.6|1.0|smtp-in|connect|${sid(i)}|1a9c37f7cd0c06a5|x.example|10.0.${(i >> 8) & 255}.${i & 255}\n`;
        }
        await send(s);
      }
      // smtpd stops reading our answers; the pauses end meanwhile, and a data-line flood comes in.
      child.stdout.pause();
      let progress = 0;
      const writer = (async () => {
        const line = 'x'.repeat(1000);
        for (let i = 0; i < FLOOD_SESSIONS; i++) {
          let s = `filter|0.6|1.0|smtp-in|data|${sid(i)}|1a9c37feaba716e8|\n`;
          for (let j = 0; j < FLOOD_LINES; j++) s += `filter|0.6|1.0|smtp-in|data-line|${sid(i)}|1a9c37ffd8d15f2f|${line}\n`;
          s += `filter|0.6|1.0|smtp-in|data-line|${sid(i)}|1a9c37ffd8d15f2f|.\n`;
          await send(s);
          progress++;
        }
      })();
      // Wait until the writer is stuck (the filter stopped reading) or done, then look at the filter's memory.
      let last = -1;
      let stuckSince = Date.now();
      let done = false;
      void writer.then(() => (done = true));
      while (!done && (Date.now() - stuckSince < 1500 || Date.now() - connectsSent < PAUSE_MS + 1000)) {
        if (progress !== last) {
          last = progress;
          stuckSince = Date.now();
        }
        await delay(100);
      }
      const rssPaused = rssMb(child.pid);
      const stoppedReading = !done;
      t.diagnostic(
        `${SESSIONS} connects in flight, reader paused: ${(inputBytes / 1e6).toFixed(1)} MB read before the filter stopped reading (of ~${((SESSIONS * 190 + FLOOD_SESSIONS * FLOOD_LINES * 1060) / 1e6).toFixed(0)} MB); filter RSS ${rss0.toFixed(0)} → ${rssPaused.toFixed(0)} MB`,
      );
      assert.equal(exited, undefined, `the filter exited: ${stderr.slice(-2000)}`);
      assert.ok(stoppedReading, 'the filter read the whole flood while nobody read its answers (no backpressure)');
      // 10,000 open requests cost ~70 MB; the flood is ~100 MB, and buffering its echo would add twice that.
      assert.ok(rssPaused - rss0 < 150, `RSS grew by ${(rssPaused - rss0).toFixed(0)} MB while the reader was paused`);

      // smtpd reads again: everything flows.
      child.stdout.resume();
      await writer;
      const count = (m: ReadonlyMap<string, readonly string[]>): number => [...m.values()].reduce((n, l) => n + l.length, 0);
      await waitFor(() => oracle.missing().length === 0 && count(oracle.echoed) >= count(oracle.received), 60_000, 'every answer and echo');
      const rssEnd = rssMb(child.pid);
      child.stdin.end();
      await waitFor(() => exited !== undefined, 10_000, 'the filter to exit at EOF');
      oracle.finish();
      assert.deepEqual(oracle.violations, []);
      assert.equal(exited, 0);
      const answers = [...oracle.answered.values()].reduce((a, b) => a + b, 0);
      assert.equal(answers, SESSIONS + FLOOD_SESSIONS, 'every connect and data request answered');
      t.diagnostic(`resumed: ${answers} answers and ${FLOOD_SESSIONS * (FLOOD_LINES + 1)} data lines echoed; RSS at the end ${rssEnd.toFixed(0)} MB`);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A readable side we drive by hand, recording pause/resume. */
class FakeInput extends EventEmitter {
  readonly calls: string[] = [];
  pause(): this {
    this.calls.push('pause');
    return this;
  }
  resume(): this {
    this.calls.push('resume');
    return this;
  }
}

/** stdout whose writes "fill the socket" until drain() is called. */
class FakeOutput extends EventEmitter {
  writableNeedDrain = false;
  written = '';
  full = false;
  write(chunk: string | Uint8Array): boolean {
    this.written += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1');
    if (this.full) this.writableNeedDrain = true;
    return !this.full;
  }
  drain(): void {
    this.full = false;
    this.writableNeedDrain = false;
    this.emit('drain');
  }
}

function hostOn(output: FakeOutput): FilterHost {
  const r = compileRulesSource('chain main = reject "550 5.7.1 no" when helo ~ /^bad/', 'x.rules');
  assert.ok(r.ok);
  const created = FilterHost.create({ rules: r.rules, chain: null, output });
  assert.ok(created.ok);
  return created.value;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('runOnStreams: stdin follows stdout', () => {
  test('paused while stdout needs a drain, resumed at drain; nothing lost', async () => {
    const input = new FakeInput();
    const output = new FakeOutput();
    const done = runOnStreams(hostOn(output), input, output);
    input.emit('data', Buffer.from('config|subsystem|smtp-in\nconfig|ready\n'));
    input.emit('data', Buffer.from('report|0.6|1|smtp-in|link-connect|3689fe601e5436b4|localhost|pass|127.0.0.1:60192|127.0.0.1:25\n'));
    await tick();
    assert.deepEqual(input.calls, []);
    output.full = true;
    input.emit('data', Buffer.from('filter|0.6|1|smtp-in|ehlo|3689fe601e5436b4|1a9c37f9d78d35b9|bad.example\n'));
    await tick();
    assert.deepEqual(input.calls, ['pause'], 'stdin paused once stdout is full');
    output.drain();
    await tick();
    assert.deepEqual(input.calls, ['pause', 'resume']);
    assert.ok(output.written.includes('filter-result|3689fe601e5436b4|1a9c37f9d78d35b9|reject|550 5.7.1 no\n'));
    input.emit('end');
    await done;
  });

  test('stdout fails (smtpd gone) while paused: stdin resumes, so its EOF is read and the filter ends', async () => {
    const input = new FakeInput();
    const output = new FakeOutput();
    const done = runOnStreams(hostOn(output), input, output);
    input.emit('data', Buffer.from('config|subsystem|smtp-in\nconfig|ready\n'));
    output.full = true;
    input.emit('data', Buffer.from('filter|0.6|1|smtp-in|ehlo|3689fe601e5436b4|1a9c37f9d78d35b9|x\n'));
    await tick();
    assert.deepEqual(input.calls, ['pause']);
    output.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    assert.deepEqual(input.calls, ['pause', 'resume']);
    input.emit('end');
    await done;
  });

  test('streams without pause/resume (older callers) still work, without backpressure', async () => {
    const input = new EventEmitter();
    const output = new FakeOutput();
    output.full = true;
    const done = runOnStreams(hostOn(output), input, output);
    input.emit('data', Buffer.from('config|subsystem|smtp-in\nconfig|ready\n'));
    await tick();
    input.emit('end');
    await done;
  });
});
