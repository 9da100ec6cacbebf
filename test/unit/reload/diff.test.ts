import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeStep } from '../../../src/model/describe.js';
import { diffRules, isEmptyDiff, summarizeDiff } from '../../../src/reload/diff.js';
import type { StepAction } from '../../../src/model/plan.js';
import { accept, junk, pause, reject, rules, step, type StepSpec } from './helpers.js';

const A: StepSpec = { action: accept, whenText: 'src in trusted' };
const B: StepSpec = { action: pause(3000) };
const C: StepSpec = { action: reject('550 5.7.1 no'), phase: 'helo', whenText: 'helo ~ /x/' };
const D: StepSpec = { action: junk, phase: 'mail-from' };

const postgrey = (timeoutMs: number, path = '/run/postgrey.sock'): StepAction => ({
  kind: 'policy',
  options: { flavor: 'postgrey', address: { kind: 'unix', path }, timeoutMs },
});

describe('diffRules', () => {
  test('the same rules compiled twice: empty (predicates are fresh closures each time)', () => {
    const d = diffRules(rules({ main: [A, B, C] }), rules({ main: [A, B, C] }));
    assert.equal(isEmptyDiff(d), true);
    assert.deepEqual(d, { chainsAdded: [], chainsRemoved: [], chainsChanged: [] });
  });

  test('moving rules to other lines (spans) is not a change', () => {
    const moved = [A, B, C].map((s, i) => ({ ...s, line: 40 + i * 3 }));
    const d = diffRules(rules({ main: [A, B, C] }), rules({ main: moved }, { file: '/other/path' }));
    assert.equal(isEmptyDiff(d), true);
  });

  test('chains added and removed, by name, sorted', () => {
    const d = diffRules(rules({ main: [A], old2: [B], old1: [B] }), rules({ main: [A], new1: [C] }));
    assert.deepEqual(d.chainsAdded, ['new1']);
    assert.deepEqual(d.chainsRemoved, ['old1', 'old2']);
    assert.deepEqual(d.chainsChanged, []);
  });

  test('a step appended / removed', () => {
    const added = diffRules(rules({ main: [A, B] }), rules({ main: [A, B, D] }));
    assert.deepEqual(added.chainsChanged, [
      { name: 'main', stepsAdded: [{ index: 2, text: 'junk @mail-from' }], stepsRemoved: [], stepsChanged: [], stepsMoved: [] },
    ]);
    const removed = diffRules(rules({ main: [A, B, D] }), rules({ main: [A, D] }));
    assert.deepEqual(removed.chainsChanged[0]?.stepsRemoved, [{ index: 1, text: 'pause 3000ms @connect' }]);
    assert.deepEqual(removed.chainsChanged[0]?.stepsAdded, []);
  });

  test('a parameter edit is one changed step, with the field named', () => {
    const d = diffRules(rules({ main: [A, B, C] }), rules({ main: [A, { action: pause(5000) }, C] }));
    assert.deepEqual(d.chainsChanged[0]?.stepsChanged, [
      { index: 1, before: 'pause 3000ms @connect', after: 'pause 5000ms @connect', fields: ['action'] },
    ]);
    assert.deepEqual(d.chainsChanged[0]?.stepsAdded, []);
    assert.deepEqual(d.chainsChanged[0]?.stepsRemoved, []);
  });

  test('phase, condition and on-error changes are changes', () => {
    const cases: Array<[StepSpec, string[]]> = [
      [{ ...C, phase: 'rcpt-to' }, ['phase']],
      [{ ...C, whenText: 'helo ~ /y/' }, ['when']],
      [{ ...C, whenText: null }, ['when']],
      [{ ...C, onError: 'proceed' }, ['onError']],
      [{ ...C, action: reject('450 later'), phase: 'mail-from' }, ['action', 'phase']],
    ];
    for (const [edited, fields] of cases) {
      const d = diffRules(rules({ main: [A, C] }), rules({ main: [A, edited] }));
      assert.deepEqual(d.chainsChanged[0]?.stepsChanged[0]?.fields, fields, JSON.stringify(edited));
    }
  });

  test('reordering is a change: reported as a move', () => {
    const d = diffRules(rules({ main: [A, B, C] }), rules({ main: [B, A, C] }));
    const c = d.chainsChanged[0];
    assert.equal(c?.stepsMoved.length, 1);
    assert.deepEqual(c?.stepsAdded, []);
    assert.deepEqual(c?.stepsRemoved, []);
    assert.deepEqual(c?.stepsChanged, []);
    const move = c?.stepsMoved[0];
    // Either A moved down or B moved up; both describe the same swap.
    assert.ok(
      (move?.from === 0 && move.to === 1 && move.text === describeStep(step(A, 1))) ||
        (move?.from === 1 && move.to === 0 && move.text === describeStep(step(B, 0))),
      JSON.stringify(move),
    );
    const rotated = diffRules(rules({ main: [A, B, C, D] }), rules({ main: [D, A, B, C] }));
    assert.deepEqual(rotated.chainsChanged[0]?.stepsMoved, [{ from: 3, to: 0, text: 'junk @mail-from' }]);
  });

  test('insert in the middle keeps the rest aligned', () => {
    const d = diffRules(rules({ main: [A, B, C] }), rules({ main: [A, D, B, C] }));
    assert.deepEqual(d.chainsChanged[0], {
      name: 'main',
      stepsAdded: [{ index: 1, text: 'junk @mail-from' }],
      stepsRemoved: [],
      stepsChanged: [],
      stepsMoved: [],
    });
  });

  test('nested options compare by value, not key order', () => {
    const a: StepAction = postgrey(5000);
    const b: StepAction = {
      kind: 'policy',
      options: { timeoutMs: 5000, address: { path: '/run/postgrey.sock', kind: 'unix' }, flavor: 'postgrey' },
    };
    assert.equal(isEmptyDiff(diffRules(rules({ main: [{ action: a }] }), rules({ main: [{ action: b }] }))), true);
    const d = diffRules(rules({ main: [{ action: a }] }), rules({ main: [{ action: postgrey(5000, '/run/other.sock') }] }));
    assert.deepEqual(d.chainsChanged[0]?.stepsChanged[0]?.after, 'postgrey unix:/run/other.sock timeout 5000ms @connect');
    const t = diffRules(rules({ main: [{ action: a }] }), rules({ main: [{ action: postgrey(9000) }] }));
    assert.deepEqual(t.chainsChanged[0]?.stepsChanged[0]?.fields, ['action'], 'a timeout-only change is still a change');
  });

  test('summary line', () => {
    const d = diffRules(
      rules({ main: [A, B, C], gone: [A], x: [A, B, C] }),
      rules({ main: [A, { action: pause(1) }, C, D], fresh: [A], x: [B, A] }),
    );
    assert.equal(
      summarizeDiff(d),
      'chains added: fresh; chains removed: gone; chain main: 1 step added, 1 step changed; chain x: 1 step removed, 1 step moved',
    );
    assert.equal(summarizeDiff(diffRules(rules({ main: [A] }), rules({ main: [A] }))), 'no chain changed');
  });
});

describe('describeStep', () => {
  test('one line per step kind, on-error shown only when it is proceed', () => {
    assert.equal(describeStep(step({ action: pause(3000), whenText: 'src in trusted' }, 0)), 'pause 3000ms @connect when src in trusted');
    assert.equal(describeStep(step({ action: reject('550 5.7.1 "no"'), phase: 'helo' }, 0)), 'reject "550 5.7.1 \\"no\\"" @helo');
    assert.equal(describeStep(step({ action: postgrey(5000), phase: 'rcpt-to', onError: 'proceed' }, 0)), 'postgrey unix:/run/postgrey.sock timeout 5000ms @rcpt-to on-error proceed');
    const tcp: StepAction = { kind: 'policy', options: { flavor: 'policy', address: { kind: 'tcp', host: '127.0.0.1', port: 10023 }, timeoutMs: 2000 } };
    assert.equal(describeStep(step({ action: tcp, phase: 'rcpt-to' }, 0)), 'policy tcp:127.0.0.1:10023 @rcpt-to');
    assert.equal(describeStep(step({ action: { kind: 'disconnect', reply: '421 bye' } }, 0)), 'disconnect "421 bye" @connect');
  });

  test('greylisting reads like the rules: the delay, then only the options that are not the default', () => {
    const base = { delayMs: 300_000, maxAgeMs: 35 * 86_400_000, retryWindowMs: 2 * 86_400_000, autoWhitelistAfter: 5, ipv4Prefix: 24, ipv6Prefix: 64 };
    const plain: StepAction = { kind: 'greylist', options: { ...base, store: 'sqlite:/var/lib/filter-rules/greylist.db', header: false } };
    assert.equal(describeStep(step({ action: plain, phase: 'rcpt-to' }, 0)), 'greylist delay 300000ms @rcpt-to');
    const tuned: StepAction = {
      kind: 'greylist',
      options: { ...base, delayMs: 60_000, ipv4Prefix: 32, autoWhitelistAfter: 0, store: 'redis://127.0.0.1:6379/2', header: true },
    };
    assert.equal(
      describeStep(step({ action: tuned, phase: 'rcpt-to' }, 0)),
      'greylist delay 60000ms auto-whitelist 0 ipv4-prefix 32 store "redis://127.0.0.1:6379/2" header @rcpt-to',
    );
  });

  test('a step whose only change is an option never reads the same before and after', () => {
    const changes: [StepAction, StepAction][] = [
      [postgrey(2000), postgrey(5000)],
      [pause(3000), { kind: 'pause', durationMs: 3000, payOnceMs: 86_400_000 }],
      [pause(3000), { kind: 'pause', durationMs: 3000, pregreet: { action: 'log', reply: '' } }],
      [
        { kind: 'pause', durationMs: 3000, pregreet: { action: 'disconnect', reply: '554 5.5.1 go' } },
        { kind: 'pause', durationMs: 3000, pregreet: { action: 'disconnect', reply: '554 5.5.1 bye' } },
      ],
    ];
    for (const [before, after] of changes) {
      const c = diffRules(rules({ main: [{ action: before }] }), rules({ main: [{ action: after }] })).chainsChanged[0]?.stepsChanged[0];
      assert.ok(c !== undefined && c.before !== c.after, `${JSON.stringify(before)} -> ${JSON.stringify(after)}: ${JSON.stringify(c)}`);
    }
  });
});
