/**
 * `junk`: smtpd marks the session (before a transaction exists: connect,
 * helo, mail-from) or the transaction as junk and prepends `X-Spam: Yes`.
 * Never at commit, where smtpd exits on it (protocol/smtpd-rules.ts; E040
 * from `decides`). Its definition, kind and runner (no I/O). Pure.
 */
import type { CompiledStep } from '../model/plan.js';
import type { StepOutcome, StepRunner } from '../model/runner.js';
import type { KindDefinition, StepDefinition } from './spec.js';

declare module '../model/plan.js' {
  interface StepActions {
    junk: {};
  }
}

const options = {} as const;

export const junkStep = {
  keyword: 'junk',
  argument: null,
  options,
  phases: { earliest: 'connect', default: 'connect' },
  // Not one of the steps W007 (never runs) counts: the session goes on after a junk, its later phases run.
  ends: null,
  decides: ['junk'],
  checks: [],
  codes: [],
  needsDataLine: () => false,
  compile: () => ({ kind: 'junk' }),
  compiles: ['junk'],
} as const satisfies StepDefinition<null, typeof options, 'junk'>;

export const junkKind: KindDefinition<'junk'> = {
  kind: 'junk',
  timing: { mode: 'sync' },
  dryRun: 'run',
  delaysClient: false,
  describe: { text: () => 'junk' },
};

const JUNK: StepOutcome = { type: 'decide', decision: { type: 'junk' } };

export function createJunkRunner(step: CompiledStep): StepRunner {
  return { step, run: () => JUNK };
}
