/**
 * A hostile (or broken) Redis answering the greylist script with a reply
 * that never ends, through the real filter process: before the reply cap the
 * filter buffered it all (1.9 GB in 14 s). Now each such check gets the
 * step's on-error (451), the filter drops the connection after 1 MiB, its
 * memory stays flat while the server pushes many times the cap at it, other
 * sessions keep flowing, and once the server behaves the next check works.
 *
 * The server is a fake (test/integration/store/fake-redis.ts): a real
 * redis-server never sends such a reply.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeRedis, type FakeRedisMode } from '../store/fake-redis.js';
import { CliFilter, rssMb, TEMPFAIL, waitFor } from './live.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const GREYLISTED = /^reject\|451 4\.7\.1 Greylisted, please try again in \d+ seconds?$/;
const DENIED = 'reject|550 5.7.1 refused by the rules';
const MiB = 1024 * 1024;
/** Pushed at the filter per mode, across reconnects: 64 times the cap. */
const PUSHED = 64 * MiB;
/** Far above the filter's normal ~60–90 MB; without the cap one reply passes it within about a second. */
const RSS_LIMIT_MB = 200;
/** Without the cap the server streams on: past this the test stops waiting for a drop that will not come. */
const RUNAWAY = 256 * MiB;

describe('a hostile Redis with endless replies, through the filter process', () => {
  let fake: FakeRedis;
  let dir: string;
  let filter: CliFilter;

  before(async () => {
    fake = await FakeRedis.start();
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-redis-hostile-'));
    const rules = join(dir, 'greylist.rules');
    writeFileSync(
      rules,
      `chain main =
    reject "550 5.7.1 refused by the rules" when rcpt-to ~ /^deny@/
    then greylist delay 1s store "${fake.url()}" when rcpt-to ~ /^strict/
`,
    );
    filter = await CliFilter.start([process.execPath, MAIN, rules]);
  });
  after(async () => {
    filter?.kill();
    await fake?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  const strict = (): Promise<{ decision: string; ms: number }> => {
    n++;
    return filter.rcpt(`strict-${n}@example.org`, { from: `sender-${n}@example.net` });
  };

  /** The server behaves: a new triplet is greylisted again (the filter may be reconnecting first). */
  async function behaves(): Promise<void> {
    fake.mode = 'greylist';
    await waitFor(async () => GREYLISTED.test((await strict()).decision), 10_000, 'a greylist answer from the well-behaved server');
  }

  test('well-behaved: a new triplet is greylisted', async () => {
    await behaves();
  });

  for (const mode of ['huge-bulk', 'endless-line', 'wide-array'] as const satisfies readonly FakeRedisMode[]) {
    test(`${mode}: every check gets on-error (451), the filter's memory stays bounded while the server pushes 64× the cap, then it recovers`, { timeout: 120_000 }, async (t) => {
      await behaves();
      const rssBefore = rssMb(filter.pid);
      let peak = rssBefore;
      const sample = (): void => {
        peak = Math.max(peak, rssMb(filter.pid));
      };
      fake.mode = mode;
      const pushedBefore = fake.hostileBytes;
      let rounds = 0;
      while (fake.hostileBytes - pushedBefore < PUSHED) {
        const calls = fake.scriptCalls;
        const connections = fake.connections;
        const answer = await strict();
        assert.equal(answer.decision, TEMPFAIL);
        assert.equal((await filter.rcpt('deny@example.org')).decision, DENIED, 'other sessions flow');
        sample();
        if (fake.scriptCalls === calls) {
          // Answered without asking: the filter is between connections (dropped, reconnecting).
          await waitFor(() => fake.connections > connections, 10_000, 'the filter to reconnect');
          continue;
        }
        rounds++;
        const reply = fake.hostile.at(-1);
        assert.ok(reply !== undefined && reply.mode === mode);
        await waitFor(
          () => {
            sample();
            return reply.droppedByClient || reply.written > RUNAWAY;
          },
          60_000,
          'the filter to drop the connection',
        );
        assert.ok(reply.droppedByClient, `the filter read on: the server wrote ${(reply.written / MiB).toFixed(0)} MiB of one reply; filter RSS ${peak.toFixed(0)} MB`);
        assert.ok(peak < RSS_LIMIT_MB, `filter RSS ${peak.toFixed(0)} MB`);
      }
      const pushed = fake.hostileBytes - pushedBefore;
      t.diagnostic(
        `${mode}: ${rounds} hostile replies, ${(pushed / MiB).toFixed(0)} MiB pushed in all (${(pushed / rounds / MiB).toFixed(1)} MiB each before the drop, socket buffers included); filter RSS ${rssBefore.toFixed(0)} MB before, ${peak.toFixed(0)} MB at most`,
      );
      assert.ok(peak < RSS_LIMIT_MB, `filter RSS ${peak.toFixed(0)} MB`);
      await behaves();
      assert.ok(filter.running);
      assert.deepEqual(filter.invalidLines(), []);
    });
  }

  test('the outage is logged with the reason, and not once per dropped connection', () => {
    const warnings = filter.logs().filter((l) => l.msg === 'greylist store unreachable; checks fail until it is back');
    assert.ok(warnings.some((l) => String(l.err) === 'Redis sent a reply of more than 1048576 bytes (the cap); connection dropped'));
    // LogThrottle: at most 10 a minute, then a count.
    assert.ok(warnings.length <= 10 * 2, `${warnings.length} warnings`);
  });
});
