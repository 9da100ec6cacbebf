import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPinoLogger, isLogLevel } from '../../../src/support/pino-logger.js';

function capture(level: 'debug' | 'info' | 'warn' | 'error' | 'silent'): { lines: Record<string, unknown>[]; log: ReturnType<typeof createPinoLogger> } {
  const lines: Record<string, unknown>[] = [];
  const log = createPinoLogger({ level, destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  return { lines, log };
}

describe('pino logger', () => {
  test('one JSON line per record: level name, time, message, fields; no pid or hostname', () => {
    const { lines, log } = capture('info');
    log.info({ session: '3689fe601e5436b4', decision: 'reject' }, 'decision');
    assert.equal(lines.length, 1);
    const l = lines[0] ?? {};
    assert.equal(l.level, 'info');
    assert.equal(l.msg, 'decision');
    assert.equal(l.session, '3689fe601e5436b4');
    assert.equal(typeof l.time, 'string');
    assert.equal('pid' in l, false);
    assert.equal('hostname' in l, false);
  });

  test('the level filters; child bindings are merged', () => {
    const { lines, log } = capture('warn');
    log.info({}, 'hidden');
    log.debug({}, 'hidden');
    log.child({ step: 3 }).warn({ x: 1 }, 'shown');
    assert.deepEqual(lines.map((l) => [l.msg, l.step, l.x]), [['shown', 3, 1]]);
    const silent = capture('silent');
    silent.log.error({}, 'nothing');
    assert.equal(silent.lines.length, 0);
  });

  test('level names', () => {
    assert.ok(isLogLevel('debug') && isLogLevel('silent'));
    assert.ok(!isLogLevel('verbose'));
  });
});
