/**
 * `junk`: smtpd marks the session (before a transaction exists: connect,
 * helo, mail-from) or the transaction as junk and prepends `X-Spam: Yes`.
 * Never at commit, where smtpd exits on it (protocol/smtpd-rules.ts; E040
 * from `decides`). Its definition and kind; the runner is actions/junk.ts
 * until it moves here. Pure.
 */
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
