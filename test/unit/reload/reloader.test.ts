import { describe, test } from 'node:test';
import { resolve } from 'node:path';
import assert from 'node:assert/strict';
import type { CompiledChain, CompiledRules } from '../../../src/model/plan.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger, type LogRecord } from '../../../src/support/log.js';
import { startReloader, type ChainSelector, type Reloader } from '../../../src/reload/reloader.js';
import { selectChain } from '../../../src/model/select-chain.js';
import { compileStandIn, fakeWatcherFactory, flush, MemoryFs, stubCompiler, type FakeWatcher } from './helpers.js';

const RULES = '/etc/mail/rules';
const QUIET = 200;

interface Harness {
  fs: MemoryFs;
  clock: FakeClock;
  log: RecordingLogger;
  watcher: FakeWatcher;
  compiler: ReturnType<typeof stubCompiler>;
  applied: Array<{ rules: CompiledRules; chain: CompiledChain }>;
  reloader: Reloader;
  /** Advance the fake clock and wait for the pass it started (if any). */
  advance(ms: number): Promise<void>;
  records(outcome?: string): LogRecord[];
}

async function setup(
  text: string,
  options: {
    lists?: Record<string, string>;
    dataLineRegistered?: boolean;
    selectChain?: ChainSelector;
    apply?: (rules: CompiledRules, chain: CompiledChain) => void;
    passLimitMs?: number;
  } = {},
): Promise<Harness> {
  const fs = new MemoryFs();
  fs.write(RULES, text);
  for (const [path, content] of Object.entries(options.lists ?? {})) fs.write(path, content);
  const initial = compileStandIn(RULES, fs.readFileSync, true);
  if (!initial.ok) throw new Error('initial rules must compile');
  const clock = new FakeClock();
  const log = new RecordingLogger();
  const watchers = fakeWatcherFactory();
  const compiler = stubCompiler();
  const applied: Harness['applied'] = [];
  const reloader = startReloader({
    rulesFile: RULES,
    initialRules: initial.rules,
    compile: compiler.compile,
    apply: (rules, chain) => {
      options.apply?.(rules, chain);
      applied.push({ rules, chain });
    },
    selectChain: options.selectChain ?? ((r) => selectChain(r, null)),
    clock,
    log,
    watcherFactory: watchers.factory,
    readFile: fs.readFile,
    dataLineRegistered: options.dataLineRegistered ?? true,
    quietMs: QUIET,
    ...(options.passLimitMs !== undefined ? { passLimitMs: options.passLimitMs } : {}),
  });
  await reloader.whenIdle();
  return {
    fs,
    clock,
    log,
    watcher: watchers.get(),
    compiler,
    applied,
    reloader,
    async advance(ms) {
      clock.advance(ms);
      await flush();
      await reloader.whenIdle();
    },
    records(outcome) {
      return log.records.filter((r) => r.fields['event'] === 'reload' && (outcome === undefined || r.fields['outcome'] === outcome));
    },
  };
}

const ONE_CHAIN = 'chain main: pause 3000; reject 550 no when helo ~ x\n';

describe('startReloader', () => {
  test('watches the rules file and the list files of the initial rules', async () => {
    const h = await setup(`list trusted.list\n${ONE_CHAIN}`, { lists: { '/etc/mail/trusted.list': '10.0.0.1\n' } });
    assert.deepEqual(h.watcher.paths, ['/etc/mail/rules', '/etc/mail/trusted.list']);
    assert.deepEqual(h.reloader.stats.watching, ['/etc/mail/rules', '/etc/mail/trusted.list']);
    await h.reloader.close();
    assert.equal(h.watcher.closed, true);
  });

  test('a burst of events gives exactly one reload, after the quiet period', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.write(RULES, 'chain main: pause 5000\n');
    for (let i = 0; i < 6; i++) {
      h.watcher.emit(RULES, i % 2 === 0 ? 'change' : 'add');
      await h.advance(50); // less than the quiet period: keeps postponing
    }
    assert.equal(h.compiler.calls, 0, 'nothing compiled while events keep coming');
    assert.equal(h.reloader.stats.state, 'debouncing');
    await h.advance(QUIET - 51);
    assert.equal(h.compiler.calls, 0, 'one millisecond before the quiet period ends');
    await h.advance(1);
    assert.equal(h.compiler.calls, 1);
    assert.equal(h.applied.length, 1);
    assert.equal(h.applied[0]?.chain.name, 'main');
    assert.deepEqual(h.applied[0]?.chain.steps.map((s) => s.action), [{ kind: 'pause', durationMs: 5000 }]);
    await h.advance(10_000);
    assert.equal(h.compiler.calls, 1, 'no second reload');
    assert.equal(h.reloader.stats.state, 'idle');
    const [record] = h.records('applied');
    assert.equal(record?.level, 'info');
    assert.match(record?.msg ?? '', /rules reloaded \(change: \/etc\/mail\/rules\) in \d+(\.\d)? ms: chain main: 1 step removed, 1 step changed/);
    assert.equal(record?.fields['chain'], 'main');
    assert.deepEqual(record?.fields['filesChanged'], [RULES]);
    assert.equal(typeof record?.fields['compileMs'], 'number');
  });

  test('content unchanged: no compile, no apply, a debug line', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.write(RULES, ONE_CHAIN); // e.g. `touch`, or an editor saving without edits
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.compiler.calls, 0);
    assert.equal(h.applied.length, 0);
    const [record] = h.records('unchanged');
    assert.equal(record?.level, 'debug');
    assert.equal(h.reloader.stats.outcomes.unchanged, 1);
  });

  test('invalid rules: old rules stay, one error record with every diagnostic and the count', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.write(RULES, 'chain main: accept\nerror bad thing one\nwarn odd thing\nerror bad thing two\n');
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.compiler.calls, 1);
    assert.equal(h.applied.length, 0, 'nothing applied');
    const records = h.records('rejected');
    assert.equal(records.length, 1);
    const [record] = records;
    assert.equal(record?.level, 'error');
    assert.equal(record?.fields['errors'], 2);
    assert.equal(record?.fields['warnings'], 1);
    const text = String(record?.fields['diagnostics']);
    assert.match(text, /\/etc\/mail\/rules:2:1: error\[E100\]: bad thing one/);
    assert.match(text, /\/etc\/mail\/rules:3:1: warning\[W100\]: odd thing/);
    assert.match(text, /\/etc\/mail\/rules:4:1: error\[E100\]: bad thing two/);
    assert.match(record?.msg ?? '', /2 errors, first: \/etc\/mail\/rules:2:1: error\[E100\]: bad thing one; the current rules stay in force/);

    // The same broken content again (an editor re-save) is not compiled twice...
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.compiler.calls, 1);
    // ...and the fix is applied.
    h.fs.write(RULES, 'chain main: accept\n');
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.applied.length, 1);
    assert.deepEqual(h.reloader.stats.outcomes, { applied: 1, unchanged: 1, missing: 0, rejected: 1, refused: 0, failed: 0, abandoned: 0 });
  });

  test('reverting to the running content after a rejected edit applies it (diff: no changes)', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.write(RULES, 'error oops\n');
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    h.fs.write(RULES, ONE_CHAIN);
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.compiler.calls, 2);
    assert.equal(h.applied.length, 1);
    assert.match(h.records('applied')[0]?.msg ?? '', /: no changes; new sessions use chain main$/);
  });

  test('events during a pass schedule exactly one more pass', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.write(RULES, 'chain main: pause 1\n');
    h.fs.hold(); // the pass's file reads wait: the pass is in progress
    h.watcher.emit(RULES);
    h.clock.advance(QUIET);
    await flush();
    assert.equal(h.reloader.stats.state, 'running');
    h.fs.write(RULES, 'chain main: pause 2\n');
    for (let i = 0; i < 4; i++) {
      h.watcher.emit(RULES);
      h.clock.advance(QUIET); // each quiet period ends while the first pass still runs
      await flush();
    }
    assert.equal(h.applied.length, 0);
    assert.equal(h.compiler.calls, 0);
    h.fs.release();
    await h.reloader.whenIdle();
    assert.deepEqual(
      h.applied.map((a) => a.chain.steps[0]?.action),
      [
        { kind: 'pause', durationMs: 1 },
        { kind: 'pause', durationMs: 2 },
      ],
      'the running pass, then exactly one more',
    );
    await h.advance(10_000);
    assert.equal(h.compiler.calls, 2);
    assert.equal(h.reloader.stats.passes, 2);
  });

  test('a pass stuck on a read is abandoned at its time limit and logged; later SIGHUPs still reload; the stuck pass, done late, applies nothing', async () => {
    const h = await setup(ONE_CHAIN, { passLimitMs: 60_000 });
    h.fs.write(RULES, 'chain main: pause 1\n');
    h.fs.hold(); // reads do not return: a hung file system
    h.reloader.trigger('SIGHUP');
    await flush();
    assert.equal(h.reloader.stats.state, 'running');
    await h.advance(60_000);
    assert.equal(h.reloader.stats.state, 'idle', 'the scheduler is not left busy');
    const [abandoned] = h.records('abandoned');
    assert.equal(abandoned?.level, 'error');
    assert.match(abandoned?.msg ?? '', /^rules reload abandoned \(SIGHUP\): not done after 60 s .*the current rules stay in force; the next change or SIGHUP starts a new reload$/);
    assert.equal(h.reloader.stats.outcomes.abandoned, 1);
    // The next SIGHUP starts a new pass at once, and reads the newer content.
    h.fs.write(RULES, 'chain main: pause 2\n');
    h.reloader.trigger('SIGHUP');
    await flush();
    assert.equal(h.reloader.stats.state, 'running');
    // Both reads return now: only the new pass applies.
    h.fs.release();
    await h.reloader.whenIdle();
    await flush();
    assert.deepEqual(
      h.applied.map((a) => a.chain.steps[0]?.action),
      [{ kind: 'pause', durationMs: 2 }],
    );
    assert.equal(h.compiler.calls, 1, 'the abandoned pass did not even compile');
    assert.deepEqual(
      h.records().map((r) => r.fields['outcome']),
      ['abandoned', 'applied'],
    );
  });

  test('an event during compile itself leads to one more pass with the newer content', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.write(RULES, 'chain main: pause 1\n');
    h.compiler.during = () => {
      h.compiler.during = null;
      // The file is written again while the first compile runs.
      h.fs.write(RULES, 'chain main: pause 2\n');
      h.watcher.emit(RULES);
    };
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.applied.length, 1);
    assert.deepEqual(h.applied[0]?.chain.steps[0]?.action, { kind: 'pause', durationMs: 1 }, 'compiled from the snapshot read before');
    await h.advance(QUIET);
    assert.equal(h.applied.length, 2);
    assert.deepEqual(h.applied[1]?.chain.steps[0]?.action, { kind: 'pause', durationMs: 2 });
    await h.advance(10_000);
    assert.equal(h.compiler.calls, 2);
  });

  test('a list file change reloads, and the log names the file even though no chain changed', async () => {
    const h = await setup(`list trusted.list\n${ONE_CHAIN}`, { lists: { '/etc/mail/trusted.list': '10.0.0.1\n' } });
    h.fs.write('/etc/mail/trusted.list', '10.0.0.1\n10.0.0.2\n');
    h.watcher.emit('/etc/mail/trusted.list');
    await h.advance(QUIET);
    assert.equal(h.applied.length, 1);
    assert.deepEqual(h.compiler.lastReads, ['/etc/mail/rules', '/etc/mail/trusted.list']);
    const [record] = h.records('applied');
    assert.deepEqual(record?.fields['filesChanged'], ['/etc/mail/trusted.list']);
    assert.deepEqual(record?.fields['chainsChanged'], []);
    assert.match(record?.msg ?? '', /no chain changed \(changed: trusted\.list\)/);
  });

  test('the watch set follows the rules: list files added and removed', async () => {
    const h = await setup(ONE_CHAIN, { lists: { '/etc/mail/a.list': 'x\n', '/srv/lists/b.list': 'y\n' } });
    assert.deepEqual(h.watcher.paths, [RULES]);
    h.fs.write(RULES, `list a.list\nlist /srv/lists/b.list\n${ONE_CHAIN}`);
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.applied.length, 1);
    assert.deepEqual(h.watcher.paths, ['/etc/mail/a.list', RULES, '/srv/lists/b.list']);
    assert.deepEqual(h.records('applied')[0]?.fields['watchAdded'], ['/etc/mail/a.list', '/srv/lists/b.list']);
    // A change to a newly watched list reloads.
    h.fs.write('/srv/lists/b.list', 'z\n');
    h.watcher.emit('/srv/lists/b.list');
    await h.advance(QUIET);
    assert.equal(h.applied.length, 2);
    // Dropping a list stops watching it.
    h.fs.write(RULES, `list a.list\n${ONE_CHAIN}`);
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.deepEqual(h.watcher.paths, ['/etc/mail/a.list', RULES]);
    assert.equal(h.watcher.pathHistory.length, 2, 'setPaths only when the set changes');
  });

  test('new list files are read asynchronously and compiled from the same snapshot', async () => {
    const h = await setup(ONE_CHAIN, { lists: { '/etc/mail/new.list': 'v1\n' } });
    h.fs.write(RULES, `list new.list\n${ONE_CHAIN}`);
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    // Round 1 found a file it had not read; round 2 compiled with it.
    assert.equal(h.compiler.calls, 2);
    assert.equal(h.applied.length, 1);
    assert.equal(h.records('rejected').length, 0, 'the miss of round 1 is never reported');
  });

  test('a list file named before it exists: rejected, watched, applied once created', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.write(RULES, `list later.list\n${ONE_CHAIN}`);
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.applied.length, 0);
    assert.match(String(h.records('rejected')[0]?.fields['diagnostics']), /cannot read list file \/etc\/mail\/later\.list/);
    assert.deepEqual(h.watcher.paths, ['/etc/mail/later.list', RULES]);
    h.fs.write('/etc/mail/later.list', 'x\n');
    h.watcher.emit('/etc/mail/later.list', 'add');
    await h.advance(QUIET);
    assert.equal(h.applied.length, 1);
  });

  test('SIGHUP reloads at once, even when nothing changed', async () => {
    const h = await setup(ONE_CHAIN);
    h.reloader.trigger('SIGHUP');
    await flush();
    await h.reloader.whenIdle();
    assert.equal(h.compiler.calls, 1, 'no quiet period for a signal');
    assert.equal(h.applied.length, 1);
    const [record] = h.records('applied');
    assert.equal(record?.level, 'info');
    assert.match(record?.msg ?? '', /^rules reloaded \(SIGHUP\) in .* ms: no changes; new sessions use chain main$/);
  });

  test('SIGHUP during a quiet period runs one pass that covers both', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.write(RULES, 'chain main: junk\n');
    h.watcher.emit(RULES);
    await h.advance(50);
    h.reloader.trigger('SIGHUP');
    await flush();
    await h.reloader.whenIdle();
    assert.equal(h.applied.length, 1);
    assert.equal(h.records('applied')[0]?.fields['reason'], 'SIGHUP; change: /etc/mail/rules');
    await h.advance(10_000);
    assert.equal(h.compiler.calls, 1, 'the cancelled quiet period does not fire');
  });

  test('the running chain disappears: reload refused, old rules stay', async () => {
    const h = await setup('chain inbound: accept\nchain submission: accept\n', { selectChain: (r) => selectChain(r, 'inbound') });
    h.fs.write(RULES, 'chain inbound2: accept\nchain submission: accept\n');
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.applied.length, 0);
    const [record] = h.records('refused');
    assert.equal(record?.level, 'error');
    assert.match(record?.msg ?? '', /^rules reload refused \(change: \/etc\/mail\/rules\): .*"inbound".*; the current rules stay in force$/);
    assert.match(String(record?.fields['problem']), /"inbound"/);
  });

  test('without --chain, a second chain makes the reload refused', async () => {
    const h = await setup('chain main: accept\n');
    h.fs.write(RULES, 'chain main: accept\nchain other: junk\n');
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.applied.length, 0);
    assert.match(h.records('refused')[0]?.msg ?? '', /2 chains .*--chain NAME/);
  });

  test('rules needing data-line when it was not registered: applied, with a warn record saying restart', async () => {
    const h = await setup(ONE_CHAIN, { dataLineRegistered: false });
    h.fs.write(RULES, `dataline\n${ONE_CHAIN}`);
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.applied.length, 1);
    const warn = h.log.records.filter((r) => r.level === 'warn');
    assert.equal(warn.length, 1);
    assert.equal(warn[0]?.fields['needsRestart'], true);
    assert.equal(warn[0]?.fields['warnings'], 1);
    assert.match(String(warn[0]?.fields['diagnostics']), /rules:1:1: warning\[W900\]: this rule needs an smtpd restart/);
    assert.match(warn[0]?.msg ?? '', /restart smtpd/);
  });

  test('the compiler is told whether data-line was registered at startup', async () => {
    for (const registered of [true, false]) {
      const h = await setup(ONE_CHAIN, { dataLineRegistered: registered });
      h.reloader.trigger('SIGHUP');
      await h.reloader.whenIdle();
      assert.equal(h.compiler.lastDataLineRegistered, registered);
    }
  });

  test('rules file deleted and re-created later: waits, no error, then reloads', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.remove(RULES);
    h.watcher.emit(RULES, 'unlink');
    await h.advance(QUIET);
    assert.equal(h.compiler.calls, 0);
    const [missing] = h.records('missing');
    assert.equal(missing?.level, 'warn');
    assert.match(missing?.msg ?? '', /rules file \/etc\/mail\/rules is missing; the current rules stay in force/);
    h.fs.write(RULES, 'chain main: accept\n');
    h.watcher.emit(RULES, 'add');
    await h.advance(QUIET);
    assert.equal(h.applied.length, 1);
  });

  test('rules file deleted and re-created with the same content: an info line, no compile', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.remove(RULES);
    h.watcher.emit(RULES, 'unlink');
    await h.advance(QUIET);
    h.fs.write(RULES, ONE_CHAIN);
    h.watcher.emit(RULES, 'add');
    await h.advance(QUIET);
    assert.equal(h.compiler.calls, 0);
    const [record] = h.records('unchanged');
    assert.equal(record?.level, 'info');
  });

  test('a compiler that throws: logged, filter keeps its rules, next change works', async () => {
    const h = await setup(ONE_CHAIN);
    h.compiler.throwNext = new Error('compiler bug');
    h.fs.write(RULES, 'chain main: junk\n');
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.applied.length, 0);
    const [record] = h.records('failed');
    assert.equal(record?.level, 'error');
    assert.equal(record?.fields['stage'], 'compile');
    assert.match(record?.msg ?? '', /internal error in the compiler: compiler bug; the current rules stay in force/);
    h.reloader.trigger('SIGHUP');
    await flush();
    await h.reloader.whenIdle();
    assert.equal(h.applied.length, 1);
  });

  test('apply throwing: logged as failed, and the same content is tried again on the next event', async () => {
    let fail = true;
    const h = await setup(ONE_CHAIN, {
      apply: () => {
        if (fail) throw new Error('runtime refused');
      },
    });
    h.fs.write(RULES, 'chain main: junk\n');
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    const [failed] = h.records('failed');
    assert.equal(failed?.fields['stage'], 'apply');
    assert.match(failed?.msg ?? '', /the new rules could not be applied: runtime refused; the current rules stay in force/);
    fail = false;
    h.watcher.emit(RULES);
    await h.advance(QUIET);
    assert.equal(h.applied.length, 1);
  });

  test('a file rewritten continuously is still reloaded (max wait)', async () => {
    const h = await setup(ONE_CHAIN);
    for (let i = 0; i < 30; i++) {
      h.fs.write(RULES, `chain main: pause ${i}\n`);
      h.watcher.emit(RULES);
      await h.advance(100);
    }
    // 3 s of events 100 ms apart: the 2 s cap forced a pass in the middle.
    assert.equal(h.applied.length, 1);
    await h.advance(QUIET);
    assert.equal(h.applied.length, 2);
    assert.deepEqual(h.applied[1]?.chain.steps[0]?.action, { kind: 'pause', durationMs: 29 });
  });

  test('close: a pending quiet period never fires, the watcher is closed', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.write(RULES, 'chain main: junk\n');
    h.watcher.emit(RULES);
    await h.reloader.close();
    h.clock.advance(10_000);
    await flush();
    assert.equal(h.compiler.calls, 0);
    assert.equal(h.watcher.closed, true);
    assert.equal(h.reloader.stats.state, 'closed');
    h.reloader.trigger('SIGHUP');
    await flush();
    assert.equal(h.compiler.calls, 0);
  });

  test('close during a pass: nothing is applied', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.write(RULES, 'chain main: junk\n');
    h.fs.hold();
    h.watcher.emit(RULES);
    h.clock.advance(QUIET);
    await flush();
    const closing = h.reloader.close();
    h.fs.release();
    await closing;
    assert.equal(h.applied.length, 0);
  });

  test('watcher errors are logged at warn and do not stop reloads', async () => {
    const h = await setup(ONE_CHAIN);
    h.watcher.error('EACCES: permission denied, watch /etc/mail');
    const [warn] = h.log.records.filter((r) => r.level === 'warn');
    assert.match(warn?.msg ?? '', /file watcher error: EACCES.*\(SIGHUP still reloads\)/);
    h.reloader.trigger('SIGHUP');
    await flush();
    await h.reloader.whenIdle();
    assert.equal(h.applied.length, 1);
  });

  test('stats count passes by outcome and remember the last apply time', async () => {
    const h = await setup(ONE_CHAIN);
    assert.equal(h.reloader.stats.lastAppliedAt, null);
    h.clock.advance(1234);
    h.reloader.trigger('SIGHUP');
    await flush();
    await h.reloader.whenIdle();
    const stats = h.reloader.stats;
    assert.equal(stats.passes, 1);
    assert.equal(stats.outcomes.applied, 1);
    assert.equal(stats.lastOutcome, 'applied');
    assert.equal(stats.lastAppliedAt, h.clock.now());
  });

  test('an edit made before watching started: reloaded at once with initialSources, missed without', async () => {
    for (const withSources of [true, false]) {
      const fs = new MemoryFs();
      fs.write(RULES, ONE_CHAIN);
      const initial = compileStandIn(RULES, fs.readFileSync, true);
      assert.ok(initial.ok);
      fs.write(RULES, 'chain main: junk\n'); // saved while the filter was starting
      const watchers = fakeWatcherFactory();
      const clock = new FakeClock();
      const applied: CompiledRules[] = [];
      const reloader = startReloader({
        rulesFile: RULES,
        initialRules: initial.rules,
        ...(withSources ? { initialSources: initial.sources } : {}),
        compile: stubCompiler().compile,
        apply: (rules) => applied.push(rules),
        selectChain: (r) => selectChain(r, null),
        clock,
        log: new RecordingLogger(),
        watcherFactory: watchers.factory,
        readFile: fs.readFile,
        dataLineRegistered: true,
      });
      await reloader.whenIdle();
      clock.advance(QUIET); // no file event at all
      await flush();
      await reloader.whenIdle();
      assert.equal(applied.length, withSources ? 1 : 0);
      assert.equal(reloader.stats.passes, withSources ? 1 : 0);
    }
  });

  test('an edit saved before the watcher is ready makes no event, and is reloaded once it is', async () => {
    const fs = new MemoryFs();
    fs.write(RULES, ONE_CHAIN);
    const initial = compileStandIn(RULES, fs.readFileSync, true);
    assert.ok(initial.ok);
    let watching = (): void => {};
    const watchers = fakeWatcherFactory(new Promise<void>((r) => (watching = r)));
    const clock = new FakeClock();
    const applied: CompiledRules[] = [];
    const reloader = startReloader({
      rulesFile: RULES,
      initialRules: initial.rules,
      initialSources: initial.sources,
      compile: stubCompiler().compile,
      apply: (rules) => applied.push(rules),
      selectChain: (r) => selectChain(r, null),
      clock,
      log: new RecordingLogger(),
      watcherFactory: watchers.factory,
      readFile: fs.readFile,
      dataLineRegistered: true,
    });
    await flush();
    fs.write(RULES, 'chain main: junk\n'); // the watches are not set yet: no event
    watching();
    await reloader.whenIdle();
    clock.advance(QUIET);
    await flush();
    await reloader.whenIdle();
    assert.equal(applied.length, 1);
    assert.deepEqual(applied[0]?.chains.get('main')?.steps.map((s) => s.action), [{ kind: 'junk' }]);
  });

  test('a relative rules path: watched absolute, compiled and reported as given', async () => {
    const fs = new MemoryFs();
    fs.write('rules.conf', ONE_CHAIN);
    const initial = compileStandIn('rules.conf', fs.readFileSync, true);
    assert.ok(initial.ok);
    const watchers = fakeWatcherFactory();
    const log = new RecordingLogger();
    const clock = new FakeClock();
    const reloader = startReloader({
      rulesFile: 'rules.conf',
      initialRules: initial.rules,
      compile: stubCompiler().compile,
      apply: () => {},
      selectChain: (r) => selectChain(r, null),
      clock,
      log,
      watcherFactory: watchers.factory,
      readFile: fs.readFile,
      dataLineRegistered: true,
    });
    await reloader.whenIdle();
    const abs = resolve('rules.conf');
    assert.deepEqual(watchers.get().paths, [abs]);
    fs.write('rules.conf', 'error nope\n');
    watchers.get().emit(abs);
    clock.advance(QUIET);
    await flush();
    await reloader.whenIdle();
    const [record] = log.records.filter((r) => r.fields['outcome'] === 'rejected');
    assert.match(String(record?.fields['diagnostics']), /^rules\.conf:1:1: error\[E100\]: nope/);
    await reloader.close();
  });

  test('a list file deleted: rejected with the read error, the old rules stay; applied when it is back', async () => {
    const h = await setup(`list trusted.list\n${ONE_CHAIN}`, { lists: { '/etc/mail/trusted.list': '10.0.0.1\n' } });
    h.fs.remove('/etc/mail/trusted.list');
    h.watcher.emit('/etc/mail/trusted.list', 'unlink');
    await h.advance(QUIET);
    assert.equal(h.applied.length, 0);
    const [rejected] = h.records('rejected');
    assert.match(String(rejected?.fields['diagnostics']), /cannot read list file \/etc\/mail\/trusted\.list/);
    assert.deepEqual(h.watcher.paths, ['/etc/mail/rules', '/etc/mail/trusted.list'], 'still watched');
    h.fs.write('/etc/mail/trusted.list', '10.0.0.1\n10.0.0.2\n');
    h.watcher.emit('/etc/mail/trusted.list', 'add');
    await h.advance(QUIET);
    assert.equal(h.applied.length, 1);
  });

  test('a deploy writing the rules and a list file together: one pass, compiled from both new files', async () => {
    const h = await setup(`list trusted.list\n${ONE_CHAIN}`, { lists: { '/etc/mail/trusted.list': 'old\n' } });
    h.fs.write(RULES, `list trusted.list\nchain main: pause 100\n`);
    h.watcher.emit(RULES);
    await h.advance(QUIET / 2);
    h.fs.write('/etc/mail/trusted.list', 'new\n');
    h.watcher.emit('/etc/mail/trusted.list');
    await h.advance(QUIET);
    assert.equal(h.compiler.calls, 1);
    assert.equal(h.applied.length, 1);
    const [record] = h.records('applied');
    assert.deepEqual(record?.fields['filesChanged'], ['/etc/mail/rules', '/etc/mail/trusted.list']);
    assert.equal(record?.fields['reason'], 'change: /etc/mail/rules, /etc/mail/trusted.list');
  });

  test('SIGHUP while the rules file is missing: a warning, no error, the old rules stay', async () => {
    const h = await setup(ONE_CHAIN);
    h.fs.remove(RULES);
    h.reloader.trigger('SIGHUP');
    await flush();
    await h.reloader.whenIdle();
    assert.equal(h.compiler.calls, 0);
    assert.equal(h.applied.length, 0);
    assert.equal(h.records('missing')[0]?.level, 'warn');
    assert.equal(h.records('rejected').length, 0);
  });

  test('rejects nonsensical options at construction', async () => {
    const h = await setup(ONE_CHAIN);
    const base = {
      rulesFile: RULES,
      initialRules: h.applied[0]?.rules ?? compileOk(),
      compile: h.compiler.compile,
      apply: () => {},
      selectChain: (r: CompiledRules) => selectChain(r, null),
      clock: h.clock,
      log: h.log,
      watcherFactory: fakeWatcherFactory().factory,
      readFile: h.fs.readFile,
      dataLineRegistered: true,
    };
    assert.throws(() => startReloader({ ...base, quietMs: -1 }), /quietMs must be a finite number >= 0, got -1/);
    assert.throws(() => startReloader({ ...base, quietMs: 500, maxWaitMs: 100 }), /maxWaitMs must be a finite number >= quietMs \(500\), got 100/);
    assert.throws(() => startReloader({ ...base, rulesFile: '' }), /rulesFile must not be empty/);
  });
});

function compileOk(): CompiledRules {
  const fs = new MemoryFs();
  fs.write(RULES, ONE_CHAIN);
  const r = compileStandIn(RULES, fs.readFileSync, true);
  if (!r.ok) throw new Error('stand-in failed');
  return r.rules;
}
