/**
 * What the filter does with each signal (src/cli/signals.ts), with a fake
 * clock and a recording logger. That the entry catches them before anything
 * loads, and that the process survives them, is test/integration/signals.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SIGNAL_EFFECTS, SignalResponder } from '../../../src/cli/signals.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger } from '../../../src/support/log.js';

function setup(): { responder: SignalResponder; log: RecordingLogger; clock: FakeClock; reloads: string[] } {
  const log = new RecordingLogger();
  const clock = new FakeClock();
  return { responder: new SignalResponder({ log, clock }), log, clock, reloads: [] };
}

describe('the entry (src/cli/main.ts)', () => {
  test('imports only Node.js built-ins before its handlers run (types aside): nothing of ours loads first', () => {
    const text = readFileSync(new URL('../../../../src/cli/main.ts', import.meta.url), 'utf8');
    const imports = [...text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)';$/gms)];
    assert.ok(imports.length > 0, 'no import found: the scan is broken');
    const loaded = imports.filter((m) => m[1] === undefined).map((m) => m[2]);
    assert.deepEqual(
      loaded.filter((from) => !from?.startsWith('node:')),
      [],
      'a static import runs before the entry\'s first line',
    );
    // Any other form (`import './x.js'`, export ... from) would load a module too.
    assert.doesNotMatch(text, /^(?:import\s+'|export\s+[^;]*\sfrom\s)/m);
  });
});

describe('SignalResponder', () => {
  test('SIGHUP while starting: logged once, then exactly one reload pass once the reloader exists', () => {
    const { responder, log, reloads } = setup();
    responder.received('SIGHUP', 3);
    responder.received('SIGHUP', 1);
    assert.deepEqual(
      log.records.map((r) => [r.level, r.fields['signal'], r.fields['count']]),
      [['info', 'SIGHUP', 3]],
    );
    assert.match(log.records[0]?.msg ?? '', /SIGHUP while starting: the rules are reloaded once the filter runs/);
    responder.reloadWith((reason) => reloads.push(reason));
    assert.deepEqual(reloads, ['SIGHUP']);
    // From now on, each SIGHUP is a pass (the reloader coalesces and logs them).
    responder.received('SIGHUP', 1);
    responder.received('SIGHUP', 1);
    assert.deepEqual(reloads, ['SIGHUP', 'SIGHUP', 'SIGHUP']);
    assert.equal(log.records.length, 1);
  });

  test('no SIGHUP while starting: the reloader is not asked for a pass', () => {
    const { responder, reloads } = setup();
    responder.reloadWith((reason) => reloads.push(reason));
    assert.deepEqual(reloads, []);
  });

  test('every signal but SIGHUP and SIGUSR1 is logged as ignored: the filter stops only at stdin EOF', () => {
    const ignored = Object.entries(SIGNAL_EFFECTS)
      .filter(([, effect]) => effect === 'ignored')
      .map(([signal]) => signal);
    assert.deepEqual(ignored.sort(), ['SIGALRM', 'SIGINT', 'SIGIO', 'SIGPWR', 'SIGQUIT', 'SIGSTKFLT', 'SIGTERM', 'SIGUSR2', 'SIGVTALRM']);
    const { responder, log, reloads } = setup();
    responder.reloadWith((reason) => reloads.push(reason));
    for (const signal of ignored) responder.received(signal as keyof typeof SIGNAL_EFFECTS, 1);
    assert.deepEqual(reloads, []);
    assert.equal(log.records.length, ignored.length);
    for (const [i, r] of log.records.entries()) {
      assert.equal(r.level, 'warn');
      assert.deepEqual(r.fields, { event: 'signal', signal: ignored[i] });
      assert.match(r.msg ?? '', /^SIG[A-Z0-9]+ ignored: the filter keeps answering smtpd and exits when smtpd closes its input/);
    }
  });

  test('SIGUSR1: nothing to reopen, said so (and with how many came while starting)', () => {
    const { responder, log, reloads } = setup();
    responder.received('SIGUSR1', 2);
    responder.reloadWith((reason) => reloads.push(reason));
    assert.deepEqual(reloads, []);
    assert.equal(log.records.length, 1);
    assert.deepEqual(log.records[0]?.fields, { event: 'signal', signal: 'SIGUSR1', count: 2 });
    assert.match(log.records[0]?.msg ?? '', /no log file to reopen .* the Node\.js inspector stays off/);
  });

  test('a signal storm is throttled per signal: 20 lines a minute, then one line with the count', () => {
    const { responder, log, clock } = setup();
    for (let i = 0; i < 25; i++) responder.received('SIGTERM', 1);
    // Another signal has its own budget: a SIGTERM loop does not hide a SIGUSR2.
    responder.received('SIGUSR2', 1);
    const terms = () => log.records.filter((r) => r.fields['signal'] === 'SIGTERM').length;
    assert.equal(terms(), 20);
    assert.equal(log.records.filter((r) => r.fields['signal'] === 'SIGUSR2').length, 1);
    clock.advance(60_000);
    responder.received('SIGTERM', 1);
    assert.equal(terms(), 21);
    assert.ok(log.records.some((r) => r.msg === 'similar warnings suppressed in the last window' && r.fields['suppressed'] === 5));
  });
});
