import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { ProtocolWriter, type OutputSink } from '../../../src/protocol/writer.js';
import type { OutputLine } from '../../../src/protocol/types.js';
import { RecordingLogger } from '../../../src/support/log.js';

const SID = '3689fe601e5436b4';
const TOK = '1a9c37fdc8eee799';

class Sink extends EventEmitter implements OutputSink {
  chunks: Buffer[] = [];
  accept = true;
  throwOnWrite: Error | null = null;
  write(chunk: string | Uint8Array): boolean {
    if (this.throwOnWrite) throw this.throwOnWrite;
    this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
    return this.accept;
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function setup(): { sink: Sink; log: RecordingLogger; writer: ProtocolWriter; ticks: (() => void)[] } {
  const sink = new Sink();
  const log = new RecordingLogger();
  const ticks: (() => void)[] = [];
  const writer = new ProtocolWriter({ sink, log, schedule: (fn) => ticks.push(fn) });
  return { sink, log, writer, ticks };
}

const proceed = (phase: 'connect' | 'commit' = 'connect'): OutputLine => ({
  kind: 'filter-result',
  sessionId: SID,
  token: TOK,
  phase,
  decision: { type: 'proceed' },
});

describe('ProtocolWriter', () => {
  test('lines of one tick go out in one write, each ending with LF only', () => {
    const { sink, writer, ticks } = setup();
    writer.send(proceed());
    writer.send({ kind: 'filter-dataline', sessionId: SID, token: TOK, line: 'x', encoding: 'utf8' });
    assert.equal(sink.chunks.length, 0, 'nothing before the end of the tick');
    assert.equal(ticks.length, 1, 'one flush scheduled');
    ticks[0]?.();
    assert.equal(sink.chunks.length, 1);
    assert.equal(sink.text, `filter-result|${SID}|${TOK}|proceed\nfilter-dataline|${SID}|${TOK}|x\n`);
    assert.ok(!sink.text.includes('\r'));
  });

  test('an invalid filter-result is replaced by its fallback and logged', () => {
    const { sink, writer, log } = setup();
    const ok = writer.send({ kind: 'filter-result', sessionId: SID, token: TOK, phase: 'rcpt-to', decision: { type: 'reject', reply: '250 fine' } });
    writer.flush();
    assert.equal(ok, false);
    assert.equal(sink.text, `filter-result|${SID}|${TOK}|reject|451 4.3.0 Temporary failure, please try again later\n`);
    assert.ok(log.records.some((r) => r.level === 'error' && r.msg === 'refused to send an invalid protocol line'));
  });

  test('junk at commit never reaches smtpd', () => {
    const { sink, writer } = setup();
    writer.send({ kind: 'filter-result', sessionId: SID, token: TOK, phase: 'commit', decision: { type: 'junk' } });
    writer.flush();
    assert.doesNotMatch(sink.text, /junk/);
    assert.match(sink.text, /reject\|451 /);
  });

  test('an invalid data line is dropped (there is no fallback line), others still go out', () => {
    const { sink, writer } = setup();
    writer.send({ kind: 'filter-dataline', sessionId: SID, token: TOK, line: 'a\nforged', encoding: 'utf8' });
    writer.send({ kind: 'filter-dataline', sessionId: SID, token: TOK, line: '.', encoding: 'utf8' });
    writer.flush();
    assert.equal(sink.text, `filter-dataline|${SID}|${TOK}|.\n`);
  });

  test('latin1 data lines are written byte-exact next to UTF-8 lines', () => {
    const { sink, writer } = setup();
    const body = Buffer.from([0x62, 0xfc, 0x72, 0x6f]); // "b\xfcro": not UTF-8
    writer.send({ kind: 'filter-dataline', sessionId: SID, token: TOK, line: 'Grüße', encoding: 'utf8' });
    writer.send({ kind: 'filter-dataline', sessionId: SID, token: TOK, line: body.toString('latin1'), encoding: 'latin1' });
    writer.send(proceed());
    writer.flush();
    const expected = Buffer.concat([
      Buffer.from(`filter-dataline|${SID}|${TOK}|Grüße\n`, 'utf8'),
      Buffer.from(`filter-dataline|${SID}|${TOK}|`, 'utf8'),
      body,
      Buffer.from(`\nfilter-result|${SID}|${TOK}|proceed\n`, 'utf8'),
    ]);
    assert.deepEqual(Buffer.concat(sink.chunks), expected);
  });

  test('backpressure: keeps batching until drain, loses nothing', () => {
    const { sink, writer } = setup();
    sink.accept = false;
    writer.send(proceed());
    writer.flush();
    assert.equal(sink.chunks.length, 1);
    writer.send(proceed());
    writer.send(proceed());
    writer.flush();
    assert.equal(sink.chunks.length, 1, 'waits for drain');
    sink.accept = true;
    sink.emit('drain');
    assert.equal(sink.chunks.length, 2);
    assert.equal(sink.text.split('\n').filter(Boolean).length, 3);
  });

  test('a failing sink (EPIPE) stops output without throwing', () => {
    const { sink, writer, log } = setup();
    sink.throwOnWrite = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    writer.send(proceed());
    assert.doesNotThrow(() => writer.flush());
    assert.equal(writer.isBroken, true);
    sink.throwOnWrite = null;
    writer.send(proceed());
    writer.flush();
    assert.equal(sink.chunks.length, 0);
    assert.equal(log.records.filter((r) => r.msg === 'cannot write to smtpd; output stopped').length, 1);
  });
});
