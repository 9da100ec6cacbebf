// Scenario plumbing with tiny parameters: S1 runs the two reference filters for
// real; every scenario reports filter-rules as skipped (with the reason) when it
// is not available, instead of failing.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTools } from '../lib/build.mjs';
import { DEFAULT_REGISTRATION } from '../lib/subjects.mjs';
import { renderMarkdown } from '../lib/report.mjs';
import * as s1 from '../lib/scenarios/s1-realistic.mjs';
import * as s2 from '../lib/scenarios/s2-greylist.mjs';
import * as s3 from '../lib/scenarios/s3-pause.mjs';
import * as s4 from '../lib/scenarios/s4-reload.mjs';

let tools;
before(async () => {
  tools = await buildTools();
});

function fakeCtx(tmp) {
  return {
    mode: 'quick',
    params: {
      reps: 2,
      s1: { durationMs: 300, warmup: 100, concurrency: 10, rcpts: 1 },
      s2: { durationMs: 300, postgreyDurationMs: 300, warmup: 10, concurrency: 10 },
      s3: { sessions: 100 },
      s4: { concurrency: 10, thinkMs: 10, durationMs: 500, reloadAtMs: 200, modes: ['rename'] },
      s5: { concurrency: 2, durationMs: 300, warmupMs: 0, python: false },
    },
    tools,
    machine: { versions: {} },
    ours: { ok: false, reason: 'not built in this test' },
    registration: DEFAULT_REGISTRATION,
    tmp,
    failures: [],
    progress: () => {},
    brief: () => '',
  };
}

test('S1 without filter-rules: C and Python measured, ratio to C, filter-rules skipped', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bench-s1-'));
  try {
    const ctx = fakeCtx(tmp);
    const sc = await s1.run(ctx);
    assert.equal(sc.id, 'S1');
    const [c, ours, py] = sc.rows;
    assert.equal(c.subject, 'C proceed filter');
    assert.equal(c.status, 'ok');
    assert.equal(c.baseline, true);
    assert.equal(c.metrics.sessions_per_s.n, 2);
    assert.ok(c.metrics.sessions_per_s.median > 0);
    assert.equal(ours.status, 'skipped');
    assert.match(ours.note, /not built in this test/);
    assert.equal(py.status, 'ok');
    assert.equal(py.note, ''); // the naive chain decided nothing but proceed
    assert.ok(py.ratio.value > 0 && py.ratio.value < 10);
    assert.deepEqual(ctx.failures, []);
    const md = renderMarkdown({
      command: 'x', mode: 'quick', reps: 2, date: 'd', durationS: 1, machine: { cpu: 'c', nproc: 2, memoryGiB: 1, kernel: 'k', loadavg: [0], versions: {} },
      failures: [], scenarios: [sc],
    });
    assert.match(md, /\| S1 Realistic chain, nothing matches \| filter-rules \| skipped \|/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

for (const sc of [s2, s3, s4]) {
  test(`${sc.id} without filter-rules: one skipped row with the reason`, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'bench-sk-'));
    try {
      const r = await sc.run(fakeCtx(tmp));
      assert.equal(r.rows.length, 1);
      assert.equal(r.rows[0].status, 'skipped');
      assert.match(r.rows[0].note, /not built in this test/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

test('repeatSims: a failing subject is recorded once, not retried, and the others still run', async () => {
  const { repeatSims } = await import('../lib/scenarios/common.mjs');
  const { dirname } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const bad = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'bad-filter.py');
  const ctx = fakeCtx(tmpdir());
  const options = { sessions: 20, concurrency: 2 };
  const runs = await repeatSims(ctx, [
    { id: 'good', cmd: `python3 ${bad} good`, options },
    { id: 'bad', cmd: `python3 ${bad} garbage`, options },
  ], 3, 'T');
  assert.equal(runs.get('good').results.length, 3);
  assert.equal(runs.get('bad').results.length, 0);
  assert.equal(runs.get('bad').failures.length, 1);
  assert.equal(ctx.failures.length, 1);
  assert.match(ctx.failures[0], /^T bad #\d: fatal: Invalid filter message type/);
});
