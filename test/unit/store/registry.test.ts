import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompiledRules, CompiledStep, StepAction } from '../../../src/model/plan.js';
import { MemoryGreylistStore } from '../../../src/store/memory.js';
import { storeUrlsOf } from '../../../src/steps/greylist/run.js';
import { GreylistStores } from '../../../src/store/registry.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger } from '../../../src/support/log.js';
import { err, ok } from '../../../src/support/result.js';
import { nameAndText } from '../steps/compiled.js';

/** A memory store that records purge calls and can be told how much to "delete". */
class CountingStore extends MemoryGreylistStore {
  purgeCalls: number[] = [];
  purgeResults: Array<number | Error> = [];
  closeCalls = 0;
  constructor(readonly clock: FakeClock, description: string) {
    super(description);
  }
  override async purgeExpired(): Promise<number> {
    this.purgeCalls.push(this.clock.monotonic());
    const next = this.purgeResults.shift() ?? 0;
    if (next instanceof Error) throw next;
    return next;
  }
  override async close(): Promise<void> {
    this.closeCalls++;
    await super.close();
  }
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function setup(overrides: { failing?: Set<string> } = {}) {
  const clock = new FakeClock();
  const log = new RecordingLogger();
  const opened: CountingStore[] = [];
  const openCalls: string[] = [];
  const stores = new GreylistStores({
    clock,
    log,
    purgeIntervalMs: 60_000,
    purgeBatch: 100,
    purgeBatchGapMs: 20,
    reopenAfterMs: 30_000,
    closeGraceMs: 600_000,
    open: (url) => {
      openCalls.push(url);
      if (overrides.failing?.has(url)) return err(`greylist store ${url}: cannot open: EACCES`);
      const s = new CountingStore(clock, url);
      opened.push(s);
      return ok(s);
    },
  });
  return { clock, log, stores, opened, openCalls };
}

describe('GreylistStores registry', () => {
  test('get-or-create: one store per URL, shared by every caller', () => {
    const { stores, openCalls } = setup();
    const a = stores.get('sqlite:/a.db');
    const b = stores.get('sqlite:/a.db');
    assert.ok(a.ok && b.ok);
    assert.equal(a.value, b.value);
    assert.ok(stores.get('sqlite:/b.db').ok);
    assert.deepEqual(openCalls, ['sqlite:/a.db', 'sqlite:/b.db']);
  });

  test('a failed open is reported and logged, and retried only after reopenAfterMs', () => {
    const failing = new Set(['sqlite:/locked.db']);
    const { stores, clock, log, openCalls } = setup({ failing });
    const first = stores.get('sqlite:/locked.db');
    assert.deepEqual(first, { ok: false, error: 'greylist store sqlite:/locked.db: cannot open: EACCES' });
    assert.ok(log.records.some((r) => r.level === 'error' && r.fields.err === 'greylist store sqlite:/locked.db: cannot open: EACCES'));
    clock.advance(29_999);
    assert.deepEqual(stores.get('sqlite:/locked.db'), first);
    assert.equal(openCalls.length, 1);
    failing.clear(); // the admin fixed the permission
    clock.advance(1);
    assert.ok(stores.get('sqlite:/locked.db').ok);
    assert.equal(openCalls.length, 2);
  });

  test('retain opens the new URLs, reports failures, and closes the others after the grace period', async () => {
    const { stores, clock, opened } = setup({ failing: new Set(['sqlite:/bad.db']) });
    assert.deepEqual(stores.retain(['sqlite:/a.db', 'sqlite:/old.db']), []);
    const problems = stores.retain(['sqlite:/a.db', 'sqlite:/bad.db']);
    assert.deepEqual(problems, [{ url: 'sqlite:/bad.db', error: 'greylist store sqlite:/bad.db: cannot open: EACCES' }]);
    const old = opened.find((s) => s.description === 'sqlite:/old.db');
    assert.ok(old);
    clock.advance(599_999);
    await flush();
    assert.equal(old.closeCalls, 0, 'still open during the grace period');
    clock.advance(1);
    await flush();
    assert.equal(old.closeCalls, 1);
    assert.deepEqual(stores.openUrls(), ['sqlite:/a.db']);
  });

  test('a store used again during the grace period is kept', async () => {
    const { stores, clock, opened } = setup();
    stores.retain(['sqlite:/old.db']);
    stores.retain([]);
    clock.advance(300_000);
    assert.ok(stores.get('sqlite:/old.db').ok); // a session still on the old rules
    clock.advance(600_000);
    await flush();
    assert.equal(opened[0]?.closeCalls, 0);
  });

  test('purges on a timer: full batches follow each other quickly, then back to the interval', async () => {
    const { stores, clock, opened } = setup();
    assert.ok(stores.get('sqlite:/a.db').ok);
    const s = opened[0] as CountingStore;
    s.purgeResults = [100, 100, 7, 0];
    clock.advance(60_000);
    await flush();
    clock.advance(20);
    await flush();
    clock.advance(20);
    await flush();
    clock.advance(60_000);
    await flush();
    assert.deepEqual(s.purgeCalls, [60_000, 60_020, 60_040, 120_040]);
  });

  test('a failing purge is logged and tried again at the next interval', async () => {
    const { stores, clock, opened, log } = setup();
    assert.ok(stores.get('sqlite:/a.db').ok);
    const s = opened[0] as CountingStore;
    s.purgeResults = [new Error('disk I/O error')];
    clock.advance(60_000);
    await flush();
    assert.ok(log.records.some((r) => r.level === 'warn' && r.fields.err === 'disk I/O error'));
    clock.advance(60_000);
    await flush();
    assert.equal(s.purgeCalls.length, 2);
  });

  test('closeAll closes every store, cancels the timers, and refuses later gets', async () => {
    const { stores, clock, opened } = setup();
    stores.get('sqlite:/a.db');
    stores.get('sqlite:/b.db');
    await stores.closeAll();
    assert.deepEqual(
      opened.map((s) => s.closeCalls),
      [1, 1],
    );
    assert.equal(clock.pending(), 0);
    const after = stores.get('sqlite:/a.db');
    assert.ok(!after.ok);
    assert.match(after.error, /shutting down/);
  });

  test('options are validated at construction', () => {
    assert.throws(() => new GreylistStores({ clock: new FakeClock(), log: new RecordingLogger(), purgeBatch: 0 }), /purgeBatch/);
    assert.throws(() => new GreylistStores({ clock: new FakeClock(), log: new RecordingLogger(), closeGraceMs: -1 }), /closeGraceMs/);
  });

  test('storeUrlsOf lists each greylist store of the rules once', () => {
    const span = { file: 'r', line: 1, column: 1, endLine: 1, endColumn: 2 };
    const step = (index: number, action: StepAction): CompiledStep => ({
      index,
      action,
      ...nameAndText(action),
      phase: 'rcpt-to',
      when: null,
      whenText: null,
      span,
      onError: 'tempfail',
    });
    const greylist = (store: string): StepAction => ({
      kind: 'greylist',
      options: { delayMs: 1, maxAgeMs: 1, retryWindowMs: 1, autoWhitelistAfter: 5, ipv4Prefix: 24, ipv6Prefix: 64, store, header: false },
    });
    const steps = [step(0, { kind: 'pause', durationMs: 1 }), step(1, greylist('sqlite:/a.db')), step(2, greylist('redis://h/0'))];
    const rules: CompiledRules = {
      chains: new Map([
        ['one', { name: 'one', span, steps, stepsByPhase: new Map() }],
        ['two', { name: 'two', span, steps: [step(0, greylist('sqlite:/a.db'))], stepsByPhase: new Map() }],
      ]),
      files: [],
      needsDataLine: false,
    };
    assert.deepEqual(storeUrlsOf(rules), ['sqlite:/a.db', 'redis://h/0']);
  });
});
