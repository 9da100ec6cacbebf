/**
 * `disconnect "CODE text"`: sends the reply, then smtpd closes the
 * connection. Its definition, kind and runner (no I/O). Pure.
 */
import type { StepOf } from '../model/plan.js';
import type { StepOutcome, StepRunner } from '../model/runner.js';
import type { KindDefinition, StepDefinition, ValueSpec } from './spec.js';

declare module '../model/plan.js' {
  interface StepActions {
    disconnect: { readonly reply: string };
  }
}

const reply = {
  type: 'reply',
  what: 'the reply',
  docName: 'REPLY',
  example: '"421 4.7.0 try again later"',
} as const satisfies ValueSpec<'reply'>;

const options = {} as const;

export const disconnectStep = {
  keyword: 'disconnect',
  argument: reply,
  options,
  phases: { earliest: 'connect', default: 'connect' },
  ends: 'disconnect',
  decides: ['disconnect'],
  checks: [],
  codes: [],
  needsDataLine: () => false,
  compile: ({ argument }) => ({ kind: 'disconnect', reply: argument }),
  compiles: ['disconnect'],
} as const satisfies StepDefinition<'reply', typeof options, 'disconnect'>;

export const disconnectKind: KindDefinition<'disconnect'> = {
  kind: 'disconnect',
  timing: { mode: 'sync' },
  dryRun: 'run',
  delaysClient: false,
  describe: { text: (a) => `disconnect ${JSON.stringify(a.reply)}` },
};

export type DisconnectStep = StepOf<'disconnect'>;

export function createDisconnectRunner(step: DisconnectStep): StepRunner {
  const outcome: StepOutcome = { type: 'decide', decision: { type: 'disconnect', reply: step.action.reply } };
  return { step, run: () => outcome };
}
