import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FilterDecision } from '../../../src/model/decision.js';
import { formatOutput } from '../../../src/protocol/format.js';
import { FILTER_PHASES } from '../../../src/model/phases.js';
import {
  adaptToPhase,
  decisionAt,
  SMTPD_RULE,
  SMTPD_RULES,
  smtpdRuleAt,
  tempfailDecision,
  type DecisionType,
} from '../../../src/protocol/smtpd-rules.js';

/** One decision of every type, each valid where smtpd takes its type (rewrite: see below). */
const SAMPLES: { readonly [T in DecisionType]: Extract<FilterDecision, { type: T }> } = {
  proceed: { type: 'proceed' },
  junk: { type: 'junk' },
  reject: { type: 'reject', reply: '550 5.7.1 no' },
  disconnect: { type: 'disconnect', reply: '421 4.7.0 bye' },
  rewrite: { type: 'rewrite', value: 'x' },
};
const TYPES = Object.keys(SAMPLES) as DecisionType[];
/** data-line gets no filter-result at all: no decision is ever adapted to it. */
const PHASES = FILTER_PHASES.filter((p) => p !== 'data-line');

describe('smtpd rules', () => {
  test('ids are unique, and SMTPD_RULE finds each rule by its id', () => {
    assert.equal(new Set(SMTPD_RULES.map((r) => r.id)).size, SMTPD_RULES.length);
    for (const rule of SMTPD_RULES) assert.equal(SMTPD_RULE[rule.id], rule);
    assert.deepEqual(Object.keys(SMTPD_RULE).sort(), SMTPD_RULES.map((r) => r.id).sort());
  });

  test('the two rules smtpd imposes today', () => {
    assert.deepEqual(
      SMTPD_RULES.map((r) => [r.id, `${r.decision}@${r.phase} → ${r.becomes}`]),
      [
        ['reject-at-connect', 'reject@connect → disconnect'],
        ['junk-at-commit', 'junk@commit → proceed'],
      ],
    );
  });

  test('smtpdRuleAt and decisionAt read the table, for every decision type at every phase', () => {
    for (const type of TYPES) {
      for (const phase of FILTER_PHASES) {
        const rule = SMTPD_RULES.find((r) => r.decision === type && r.phase === phase) ?? null;
        assert.equal(smtpdRuleAt(type, phase), rule, `${type}@${phase}`);
        assert.equal(decisionAt(type, phase), rule?.becomes ?? type, `${type}@${phase}`);
      }
    }
  });
});

describe('adaptToPhase', () => {
  // Its branches are written out (it runs per request): this holds every
  // table entry to one, so a rule added to SMTPD_RULES alone fails here.
  test('each rule turns its decision into `becomes`, with its note, at its phase only', () => {
    for (const rule of SMTPD_RULES) {
      const decision = SAMPLES[rule.decision];
      const adapted = adaptToPhase(decision, rule.phase);
      assert.equal(adapted.decision.type, rule.becomes, rule.id);
      assert.equal(adapted.note, rule.note, rule.id);
      if ('reply' in decision && 'reply' in adapted.decision) assert.equal(adapted.decision.reply, decision.reply, `${rule.id}: the reply is kept`);
      if (rule.becomes === 'proceed') assert.deepEqual(adapted.decision, { type: 'proceed' }, `${rule.id}: a proceed carries nothing`);
    }
  });

  test('without a rule, the decision is sent as it is (the same object; proceed: below)', () => {
    for (const type of TYPES.filter((t) => t !== 'proceed')) {
      for (const phase of PHASES) {
        if (smtpdRuleAt(type, phase) !== null) continue;
        const adapted = adaptToPhase(SAMPLES[type], phase);
        assert.equal(adapted.decision, SAMPLES[type], `${type}@${phase}`);
        assert.equal(adapted.note, null, `${type}@${phase}`);
      }
    }
  });

  test('a proceed allocates nothing: one shared answer at every phase', () => {
    const first = adaptToPhase({ type: 'proceed' }, 'connect');
    assert.deepEqual(first, { decision: { type: 'proceed' }, note: null });
    for (const phase of PHASES) assert.equal(adaptToPhase({ type: 'proceed' }, phase), first, phase);
  });

  test('what it sends is a line smtpd takes, for every decision type at every phase', () => {
    // rewrite has its own phase limits, checked by format.ts and kept out of the rules' way.
    for (const type of TYPES.filter((t) => t !== 'rewrite')) {
      for (const phase of PHASES) {
        const { decision } = adaptToPhase(SAMPLES[type], phase);
        const line = formatOutput({ kind: 'filter-result', sessionId: '3689fe601e5436b4', token: '1a9c37fdc8eee799', phase, decision });
        assert.ok(line.ok, `${type}@${phase}: ${line.ok ? '' : line.error}`);
      }
    }
  });

  test('junk at commit unadapted is a line the writer refuses (smtpd would exit)', () => {
    const rule = SMTPD_RULE['junk-at-commit'];
    const line = formatOutput({ kind: 'filter-result', sessionId: '3689fe601e5436b4', token: '1a9c37fdc8eee799', phase: rule.phase, decision: SAMPLES.junk });
    assert.deepEqual(line, { ok: false, error: 'junk is not allowed at commit' });
  });
});

describe('tempfailDecision', () => {
  // Its texts are format.test.ts's; here: it obeys the rules by itself.
  test('already what smtpd takes at every phase: a disconnect where a reject would not close the session', () => {
    for (const phase of PHASES) {
      const decision = tempfailDecision(phase);
      assert.equal(decision.type, decisionAt('reject', phase), phase);
      assert.equal(adaptToPhase(decision, phase).note, null, phase);
    }
  });
});
