/**
 * SocketTableWatcher: one read per tick for every watched connection, events
 * once each, safety when a connection cannot be found, and nothing running
 * while nobody watches. Driven by a FakeClock and table texts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/support/clock.js';
import type { Endpoints, TableName } from '../../../src/support/proc-net-tcp.js';
import { SocketTableWatcher, type ConnectionEvent } from '../../../src/support/proc-net-tcp-watch.js';
import { conn, FakeTables } from './fake-tables.js';

/** Let the watcher's awaited reads finish. */
const settle = () => new Promise<void>((r) => setImmediate(r));

async function tick(clock: FakeClock, ms = 250): Promise<void> {
  clock.advance(ms);
  await settle();
}

function setup(intervalMs = 250) {
  const clock = new FakeClock();
  const tables = new FakeTables();
  const unavailable: string[] = [];
  const watcher = new SocketTableWatcher({ clock, intervalMs, read: tables.read, onUnavailable: (r) => unavailable.push(r) });
  return { clock, tables, watcher, unavailable };
}

function record(watcher: SocketTableWatcher, e: Endpoints): { events: ConnectionEvent[]; cancel: () => void } {
  const events: ConnectionEvent[] = [];
  const handle = watcher.watch(e, (ev) => events.push(ev));
  assert.ok(handle !== null);
  return { events, cancel: () => handle.cancel() };
}

describe('SocketTableWatcher', () => {
  test('a quiet client: no event; a talker: one `talked` with the byte count', async () => {
    const { clock, tables, watcher } = setup();
    tables.rows.set(5, { st: 1, rx: 0 });
    tables.rows.set(6, { st: 1, rx: 0 });
    const quiet = record(watcher, conn(5));
    const talker = record(watcher, conn(6));
    await tick(clock);
    tables.rows.set(6, { st: 1, rx: 12 });
    await tick(clock);
    await tick(clock);
    assert.deepEqual(quiet.events, []);
    assert.deepEqual(talker.events, [{ kind: 'talked', bytes: 12 }]);
  });

  test('one read per tick for ALL watched connections, and only the table the rows are in', async () => {
    const { clock, tables, watcher } = setup();
    for (let n = 10; n < 110; n++) {
      tables.rows.set(n, { st: 1, rx: 0 });
      record(watcher, conn(n));
    }
    await tick(clock);
    // First scan: both candidate tables (an IPv4 client may be in tcp6 on a dual-stack listener).
    assert.deepEqual([...tables.reads].sort(), ['tcp', 'tcp6']);
    tables.reads = [];
    await tick(clock);
    await tick(clock);
    // Found in tcp: tcp6 is no longer read.
    assert.deepEqual(tables.reads, ['tcp', 'tcp']);
    assert.equal(watcher.stats().watching, 100);
  });

  test('CLOSE_WAIT is `gone` (closed), and the watch ends', async () => {
    const { clock, tables, watcher } = setup();
    tables.rows.set(7, { st: 1, rx: 0 });
    const w = record(watcher, conn(7));
    await tick(clock);
    tables.rows.set(7, { st: 8, rx: 1 });
    await tick(clock);
    await tick(clock);
    assert.deepEqual(w.events, [{ kind: 'gone', how: 'closed' }]);
    assert.equal(watcher.stats().watching, 0);
  });

  test('a row that disappears after being seen is `gone` (vanished)', async () => {
    const { clock, tables, watcher } = setup();
    tables.rows.set(7, { st: 1, rx: 0 });
    const w = record(watcher, conn(7));
    await tick(clock);
    tables.rows.delete(7);
    await tick(clock);
    assert.deepEqual(w.events, [{ kind: 'gone', how: 'vanished' }]);
  });

  test('a connection never seen is `unobservable`, never `gone`', async () => {
    const { clock, watcher } = setup();
    const w = record(watcher, conn(9));
    await tick(clock);
    await tick(clock);
    assert.equal(w.events.length, 1);
    assert.equal(w.events[0]?.kind, 'unobservable');
    assert.equal(watcher.stats().watching, 0);
  });

  test('a read that started before the watch does not count against it', async () => {
    const clock = new FakeClock();
    const tables = new FakeTables();
    let release: (() => void) | null = null;
    const slowRead = async (t: TableName) => {
      if (release === null) await new Promise<void>((r) => (release = r));
      return tables.read(t);
    };
    const watcher = new SocketTableWatcher({ clock, read: slowRead });
    tables.rows.set(1, { st: 1, rx: 0 });
    record(watcher, conn(1));
    clock.advance(250); // first scan starts and waits in the read
    // Connection 2 arrives while that read is in flight; its row is not in that snapshot.
    const late = record(watcher, conn(2));
    (release as unknown as () => void)();
    await settle();
    await settle();
    assert.deepEqual(late.events, [], 'judged by a scan that began before it was watched');
    tables.rows.set(2, { st: 1, rx: 0 });
    await tick(clock);
    assert.deepEqual(late.events, []);
    assert.equal(watcher.stats().watching, 2);
  });

  test('talked then closed: both events, in order', async () => {
    const { clock, tables, watcher } = setup();
    tables.rows.set(3, { st: 1, rx: 0 });
    const w = record(watcher, conn(3));
    await tick(clock);
    tables.rows.set(3, { st: 1, rx: 30 });
    await tick(clock);
    tables.rows.set(3, { st: 1, rx: 60 });
    await tick(clock);
    tables.rows.set(3, { st: 8, rx: 61 });
    await tick(clock);
    assert.deepEqual(w.events, [{ kind: 'talked', bytes: 30 }, { kind: 'gone', how: 'closed' }]);
  });

  test('no timer and no read while nothing is watched; cancelled watches stop the ticking', async () => {
    const { clock, tables, watcher } = setup();
    assert.equal(clock.pending(), 0);
    tables.rows.set(1, { st: 1, rx: 0 });
    const w = record(watcher, conn(1));
    assert.equal(clock.pending(), 1);
    await tick(clock);
    w.cancel();
    w.cancel();
    await tick(clock);
    await tick(clock);
    assert.equal(clock.pending(), 0);
    assert.equal(tables.reads.filter((t) => t === 'tcp').length, 1);
    assert.deepEqual(w.events, []);
  });

  test('tables that cannot be read: every watch is told once, the outage reported once, watches refused for a while', async () => {
    const { clock, tables, watcher, unavailable } = setup();
    tables.fail = new Error('ENOENT: no such file');
    const a = record(watcher, conn(1));
    const b = record(watcher, conn(2));
    await tick(clock);
    assert.equal(a.events[0]?.kind, 'unobservable');
    assert.equal(b.events[0]?.kind, 'unobservable');
    assert.equal(unavailable.length, 1);
    assert.equal(watcher.watch(conn(3), () => assert.fail()), null);
    assert.match(watcher.stats().unavailable ?? '', /ENOENT/);
    // After the retry period a watch is tried again.
    clock.advance(60_000);
    tables.fail = null;
    tables.rows.set(4, { st: 1, rx: 5 });
    const c = record(watcher, conn(4));
    await tick(clock);
    assert.deepEqual(c.events, [{ kind: 'talked', bytes: 5 }]);
  });

  test('the local socket cannot be watched', () => {
    const { watcher } = setup();
    assert.equal(watcher.watch({ src: '', srcPort: 0, dest: '', destPort: 0 }, () => {}), null);
  });

  test('a throwing listener does not stop the others', async () => {
    const { clock, tables, watcher } = setup();
    tables.rows.set(1, { st: 1, rx: 0 });
    tables.rows.set(2, { st: 1, rx: 0 });
    watcher.watch(conn(1), () => {
      throw new Error('bug');
    });
    const ok = record(watcher, conn(2));
    await tick(clock);
    tables.rows.set(1, { st: 1, rx: 3 });
    tables.rows.set(2, { st: 1, rx: 4 });
    await tick(clock);
    assert.deepEqual(ok.events, [{ kind: 'talked', bytes: 4 }]);
  });

  test('close() forgets every watch and stops the timer', async () => {
    const { clock, tables, watcher } = setup();
    tables.rows.set(1, { st: 1, rx: 9 });
    const w = record(watcher, conn(1));
    watcher.close();
    await tick(clock);
    assert.deepEqual(w.events, []);
    assert.equal(clock.pending(), 0);
  });

  test('rejects a bad interval', () => {
    assert.throws(() => new SocketTableWatcher({ clock: new FakeClock(), intervalMs: 0 }), /intervalMs/);
  });
});
