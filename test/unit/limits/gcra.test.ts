import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/support/clock.js';
import { checkRateSpec, consume, remainingAt, type CountMode, type GcraState, type RateSpec } from '../../../src/limits/gcra.js';

/** One key's bucket, stored as a store would: write back what consume says. */
class Bucket {
  state: GcraState | null = null;
  constructor(
    readonly spec: RateSpec,
    readonly clock: FakeClock,
    readonly mode: CountMode = 'lenient',
  ) {}
  hit(cost = 1) {
    const step = consume(this.spec, this.state, this.clock.now(), cost, this.mode);
    if (step.write) this.state = step.write;
    return step.outcome;
  }
}

const HOUR = 3_600_000;

describe('GCRA at the exact boundaries (docs/limits.md)', () => {
  test('30/1h (burst 30): 30 pass at once, the 31st is refused for 120 s, and passes at exactly 120 s', () => {
    const clock = new FakeClock();
    const b = new Bucket({ rate: 30, periodMs: HOUR, burst: 30 }, clock);
    for (let i = 1; i <= 30; i++) assert.equal(b.hit().allowed, true, `request ${i}`);
    assert.deepEqual(b.hit(), { allowed: false, retryAfterMs: 120_000 });
    clock.advance(119_999);
    assert.deepEqual(b.hit(), { allowed: false, retryAfterMs: 1 });
    clock.advance(1);
    assert.deepEqual(b.hit(), { allowed: true, remaining: 0 });
    // and the one after that waits a whole interval again
    assert.deepEqual(b.hit(), { allowed: false, retryAfterMs: 120_000 });
  });

  test('30/1h burst 10: 10 at once, then one every 120 s; after an hour of quiet, 10 again', () => {
    const clock = new FakeClock();
    const b = new Bucket({ rate: 30, periodMs: HOUR, burst: 10 }, clock);
    for (let i = 1; i <= 10; i++) assert.deepEqual(b.hit(), { allowed: true, remaining: 10 - i }, `request ${i}`);
    assert.deepEqual(b.hit(), { allowed: false, retryAfterMs: 120_000 });
    clock.advance(120_000);
    assert.equal(b.hit().allowed, true);
    assert.equal(b.hit().allowed, false);
    clock.advance(10 * 120_000);
    for (let i = 1; i <= 10; i++) assert.equal(b.hit().allowed, true, `after the pause, request ${i}`);
    assert.equal(b.hit().allowed, false);
  });

  test('spread evenly at the rate, every request passes', () => {
    const clock = new FakeClock();
    const b = new Bucket({ rate: 30, periodMs: HOUR, burst: 1 }, clock);
    for (let i = 0; i < 100; i++) {
      assert.equal(b.hit().allowed, true, `request ${i}`);
      clock.advance(120_000);
    }
  });

  test('7/1m: the interval is 8571.43 ms, counted exactly (no drift, no rounding per event)', () => {
    const clock = new FakeClock();
    const b = new Bucket({ rate: 7, periodMs: 60_000, burst: 7 }, clock);
    for (let i = 1; i <= 7; i++) assert.equal(b.hit().allowed, true, `request ${i}`);
    // The 8th is due at 60000/7 ms = 8571.43: it passes at 8572 ms, not at 8571.
    assert.deepEqual(b.hit(), { allowed: false, retryAfterMs: 8572 });
    clock.advance(8571);
    assert.equal(b.hit().allowed, false);
    clock.advance(1);
    assert.equal(b.hit().allowed, true);
    // By 60 s, 7 at once and 7 more at the rate: 14 in all, so 6 more pass now and the 15th waits.
    clock.advance(60_000 - 8572);
    for (let i = 1; i <= 6; i++) assert.equal(b.hit().allowed, true, `second minute ${i}`);
    assert.deepEqual(b.hit(), { allowed: false, retryAfterMs: 8572 });
  });

  test('a refused request uses nothing (lenient); strict fills the bucket, so only a pause gets through', () => {
    const spec = { rate: 30, periodMs: HOUR, burst: 2 };
    const lenient = new Bucket(spec, new FakeClock());
    lenient.hit();
    lenient.hit();
    lenient.clock.advance(60_000);
    assert.deepEqual(lenient.hit(), { allowed: false, retryAfterMs: 60_000 });
    lenient.clock.advance(60_000);
    assert.equal(lenient.hit().allowed, true);

    const strict = new Bucket(spec, new FakeClock(), 'strict');
    strict.hit();
    strict.hit();
    strict.clock.advance(60_000);
    assert.deepEqual(strict.hit(), { allowed: false, retryAfterMs: 120_000 });
    strict.clock.advance(60_000);
    assert.deepEqual(strict.hit(), { allowed: false, retryAfterMs: 120_000 });
    strict.clock.advance(120_000);
    assert.equal(strict.hit().allowed, true);
  });

  test('bytes: a cost is its size, and a cost above the burst counts as the burst (passes only from a full bucket)', () => {
    const clock = new FakeClock();
    const b = new Bucket({ rate: 10_000_000, periodMs: HOUR, burst: 1_000_000 }, clock);
    assert.equal(b.hit(600_000).allowed, true);
    assert.deepEqual(b.hit(600_000), { allowed: false, retryAfterMs: 72_000 });
    clock.advance(HOUR);
    assert.equal(b.hit(5_000_000).allowed, true);
    assert.equal(b.hit(1).allowed, false);
  });

  test('the state expires when the bucket is full again, and a clock that went back is not a debt', () => {
    const clock = new FakeClock();
    const spec = { rate: 30, periodMs: HOUR, burst: 30 };
    const step = consume(spec, null, clock.now(), 1);
    assert.equal(step.expiresAt, clock.now() + 120_001);
    assert.equal(remainingAt(spec, step.write, clock.now()), 29);
    assert.equal(remainingAt(spec, step.write, clock.now() + 120_000), 30);
  });

  test('specs that cannot be counted exactly are refused with a reason', () => {
    assert.equal(checkRateSpec({ rate: 30, periodMs: HOUR, burst: 10 }), null);
    assert.match(checkRateSpec({ rate: 0, periodMs: HOUR, burst: 10 }) ?? '', /rate/);
    assert.match(checkRateSpec({ rate: 1, periodMs: HOUR, burst: 1.5 }) ?? '', /burst/);
    assert.match(checkRateSpec({ rate: 1, periodMs: 86_400_000 * 365, burst: 1e9 }) ?? '', /too large/);
  });
});
