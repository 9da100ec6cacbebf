/** --record: the transcript copy of the conversation with smtpd, bounded and never fatal. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Recorder, type RecordFiles, type RecordSink } from '../../../src/runtime/recorder.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger } from '../../../src/support/log.js';
import { parseTranscript } from '../../../src/tools/transcript.js';

const dir = mkdtempSync(join(tmpdir(), 'filter-rules-record-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function open(path: string, extra: Partial<Parameters<typeof Recorder.open>[0]> = {}) {
  const log = new RecordingLogger();
  const recorder = Recorder.open({ path, log, clock: new FakeClock(), version: '9.9.9', ...extra });
  return { recorder, log };
}

/** A sink that keeps what it is given in memory. */
class MemorySink implements RecordSink {
  readonly chunks: Buffer[] = [];
  backlog = 0;
  private listener: ((e: Error) => void) | null = null;
  fail: Error | null = null;
  write(data: Buffer): void {
    if (this.fail !== null) throw this.fail;
    this.chunks.push(data);
  }
  onError(listener: (e: Error) => void): void {
    this.listener = listener;
  }
  emitError(e: Error): void {
    this.listener?.(e);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
}

function memoryFiles(sink: MemorySink): RecordFiles {
  return { size: () => 0, openAppend: () => sink, rename: () => {} };
}

describe('Recorder', () => {
  test('input as `> `, output as `< `, whole lines only, bytes kept; the file is appended to', async () => {
    const path = join(dir, 'a.rec');
    writeFileSync(path, '> old line\n');
    const { recorder, log } = open(path);
    assert.equal(recorder.active, true);
    recorder.input(Buffer.from('config|ready\nreport|0.6|1|smtp-in|link-con'));
    recorder.output('register|ready\n');
    recorder.input(Buffer.concat([Buffer.from('nect|a\nfilter|x|caf'), Buffer.from([0xe9, 0x0a])]));
    await recorder.close();
    const lines = readFileSync(path, 'latin1').split('\n');
    assert.equal(lines[0], '> old line');
    assert.match(lines[1] ?? '', /^# filter-rules 9\.9\.9 recording started 2026-11-25T12:00:00\.000Z$/);
    assert.deepEqual(lines.slice(2), ['> config|ready', '< register|ready', '> report|0.6|1|smtp-in|link-connect|a', '> filter|x|caf\u00e9', '']);
    assert.ok(log.records.some((r) => r.msg === 'recording the conversation with smtpd'));
    // Replay reads it back: the notes and answers are skipped, the inputs kept.
    const runs = parseTranscript(readFileSync(path));
    assert.deepEqual(
      runs.flatMap((r) => r.inputs.map((i) => i.bytes.toString('latin1'))),
      ['old line', 'config|ready', 'report|0.6|1|smtp-in|link-connect|a', 'filter|x|caf\u00e9'],
    );
  });

  test('tee records what goes to smtpd and passes it on unchanged', () => {
    const sink = new MemorySink();
    const { recorder } = open('/mem', { files: memoryFiles(sink) });
    const written: string[] = [];
    const out = recorder.tee({ write: (chunk) => (written.push(String(chunk)), true), once: () => undefined });
    assert.equal(out.write('filter-result|a|b|proceed\nfilter-result|c|d|junk\n'), true);
    assert.deepEqual(written, ['filter-result|a|b|proceed\nfilter-result|c|d|junk\n']);
    assert.match(sink.text(), /\n< filter-result\|a\|b\|proceed\n< filter-result\|c\|d\|junk\n$/);
  });

  test('a file that cannot be opened is logged, and the filter runs on without recording', () => {
    const { recorder, log } = open(join(dir, 'no', 'such', 'dir', 'x.rec'));
    assert.equal(recorder.active, false);
    recorder.input(Buffer.from('config|ready\n'));
    const forwarded: string[] = [];
    recorder.tee({ write: (c) => (forwarded.push(String(c)), true), once: () => undefined }).write('register|ready\n');
    assert.deepEqual(forwarded, ['register|ready\n'], 'output still reaches smtpd');
    const e = log.records.find((r) => r.level === 'error');
    assert.match(String(e?.msg), /cannot open the record file; not recording/);
    assert.match(String(e?.fields.err), /ENOENT/);
  });

  test('a write error stops the recording, once, with a log line; output still flows', () => {
    const sink = new MemorySink();
    const { recorder, log } = open('/mem', { files: memoryFiles(sink) });
    sink.emitError(new Error('ENOSPC: no space left on device'));
    assert.equal(recorder.active, false);
    recorder.input(Buffer.from('config|ready\n'));
    sink.fail = new Error('must not be called');
    let passed = false;
    recorder.tee({ write: () => (passed = true), once: () => undefined }).write('x\n');
    assert.equal(passed, true);
    assert.equal(log.records.filter((r) => r.level === 'error').length, 1);
    assert.match(String(log.records.find((r) => r.level === 'error')?.fields.err), /ENOSPC/);
  });

  test('a throwing write stops the recording instead of throwing into the filter', () => {
    const sink = new MemorySink();
    const { recorder } = open('/mem', { files: memoryFiles(sink) });
    sink.fail = new Error('EIO');
    assert.doesNotThrow(() => recorder.input(Buffer.from('a\nb\n')));
    assert.equal(recorder.active, false);
  });

  test('when the disk falls behind, lines are dropped and a note says how many', () => {
    const sink = new MemorySink();
    const { recorder } = open('/mem', { files: memoryFiles(sink), backlogBytes: 100 });
    sink.backlog = 1000;
    recorder.input(Buffer.from('one\ntwo\nthree\n'));
    sink.backlog = 0;
    recorder.input(Buffer.from('four\n'));
    assert.match(sink.text(), /\n# 3 line\(s\) not recorded: the disk did not keep up\n> four\n$/);
  });

  test('at the size limit FILE becomes FILE.1 and a new FILE starts: at most twice the limit on disk', async () => {
    const path = join(dir, 'rot.rec');
    const { recorder } = open(path, { maxBytes: 200 });
    for (let i = 0; i < 12; i++) recorder.input(Buffer.from(`report|0.6|1|smtp-in|protocol-client|${String(i).padStart(4, '0')}\n`));
    // close() also waits for FILE.1's queued writes.
    await recorder.close();
    assert.ok(existsSync(`${path}.1`));
    const current = readFileSync(path, 'utf8');
    const previous = readFileSync(`${path}.1`, 'utf8');
    assert.ok(current.length <= 200 && previous.length <= 200, `${current.length} and ${previous.length} bytes`);
    assert.match(current, /^# filter-rules 9\.9\.9 recording continued \(the previous part is .*rot\.rec\.1\)/);
    assert.match(current, /protocol-client\|0011\n$/, 'the newest line is in FILE');
    // Lines are never split across files.
    for (const text of [current, previous]) for (const l of text.split('\n').filter(Boolean)) assert.match(l, /^(# |> report)/);
  });
});
