/**
 * `reject "CODE text"`: refuses the command with this reply. At connect it
 * compiles to a disconnect: smtpd cannot reject before the banner (the
 * client would face 503 for every command; protocol/smtpd-rules.ts). Its
 * definition, kind and runner (no I/O). Pure.
 */
import type { StepOf } from '../model/plan.js';
import type { StepOutcome, StepRunner } from '../model/runner.js';
import { SMTPD_RULE } from '../protocol/smtpd-rules.js';
import type { CheckReport, CheckView, KindDefinition, StepDefinition, ValueSpec } from './spec.js';

declare module '../model/plan.js' {
  interface StepActions {
    reject: { readonly reply: string };
  }
}

const REJECT_AT_CONNECT = SMTPD_RULE['reject-at-connect'];

const reply = {
  type: 'reply',
  what: 'the reply',
  docName: 'REPLY',
  example: '"550 5.7.1 refused"',
} as const satisfies ValueSpec<'reply'>;

const options = {} as const;

/** W004, on the reply as written (a reply with other problems too still gets it). */
function reject421(view: CheckView, report: CheckReport): void {
  const written = view.argument;
  if (written === null || !/^421 /.test(written.text)) return;
  report('W004', written.span, 'smtpd turns a 421 reject into a disconnect', { hint: 'write `disconnect "421 ..."` to say so, or use another 4xx code' });
}

export const rejectStep = {
  keyword: 'reject',
  argument: reply,
  options,
  phases: { earliest: 'connect', default: 'connect' },
  ends: 'reject',
  decides: ['reject'],
  checks: [reject421],
  codes: ['W004'],
  needsDataLine: () => false,
  // What smtpd's rule sends instead of a reject at connect, decided once here rather than per request.
  compile: ({ argument, phase }) =>
    phase === REJECT_AT_CONNECT.phase ? { kind: REJECT_AT_CONNECT.becomes, reply: argument } : { kind: 'reject', reply: argument },
  compiles: ['reject', REJECT_AT_CONNECT.becomes],
} as const satisfies StepDefinition<'reply', typeof options, 'reject' | 'disconnect'>;

export const rejectKind: KindDefinition<'reject'> = {
  kind: 'reject',
  timing: { mode: 'sync' },
  dryRun: 'run',
  delaysClient: false,
  describe: { text: (a) => `reject ${JSON.stringify(a.reply)}` },
};

export type RejectStep = StepOf<'reject'>;

export function createRejectRunner(step: RejectStep): StepRunner {
  const outcome: StepOutcome = { type: 'decide', decision: { type: 'reject', reply: step.action.reply } };
  return { step, run: () => outcome };
}
