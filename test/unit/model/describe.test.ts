import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeStep, ruleRef, shortRuleRef, startupLine, stepText } from '../../../src/model/describe.js';
import type { CompiledStep } from '../../../src/model/plan.js';
import { step } from '../reload/helpers.js';

const postgrey = step(
  { action: { kind: 'policy', options: { flavor: 'postgrey', address: { kind: 'unix', path: '/run/postgrey.sock' }, timeoutMs: 5000 } }, phase: 'rcpt-to', whenText: 'src !in trusted', onError: 'proceed', line: 7 },
  2,
  '/etc/mail/filter.rules',
);
const dryReject: CompiledStep = { ...step({ action: { kind: 'reject', reply: '550 no' }, phase: 'helo', line: 3 }, 0, '/etc/mail/filter.rules'), dryRun: true };

describe('model/describe', () => {
  test('ruleRef names the file as the rules were loaded from it; shortRuleRef its base name', () => {
    assert.equal(ruleRef(postgrey.span), '/etc/mail/filter.rules:7');
    assert.equal(shortRuleRef(postgrey.span), 'filter.rules:7');
  });

  test("describeStep is the step's text with its phase, condition, on-error proceed and dry-run", () => {
    assert.equal(describeStep(postgrey), `${postgrey.text} @rcpt-to when src !in trusted on-error proceed`);
    assert.equal(describeStep(dryReject), 'dry-run reject "550 no" @helo');
  });

  test('startupLine names the kind (policy for a postgrey step) and the full place', () => {
    assert.equal(startupLine(postgrey), '#2 policy at rcpt-to when src !in trusted (/etc/mail/filter.rules:7)');
    assert.equal(startupLine(dryReject), '#0 dry-run reject at helo (/etc/mail/filter.rules:3)');
  });

  test('stepText is the written step on one line, or the compiled text when the source does not hold it', () => {
    const source = 'chain a =\n  reject "550 no"\n    when helo ~ /x/\n';
    const written: CompiledStep = { ...dryReject, span: { file: 'r', line: 2, column: 3, endLine: 3, endColumn: 20 } };
    assert.equal(stepText(written, new Map([['r', source]])), 'reject "550 no" when helo ~ /x/');
    assert.equal(stepText(written, new Map()), 'dry-run reject "550 no"');
    assert.equal(stepText(postgrey, new Map([['/etc/mail/filter.rules', '']])), `${postgrey.text} when src !in trusted`);
  });
});
