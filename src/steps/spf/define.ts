/**
 * `spf [check-helo] [timeout DURATION]` at mail-from (issue 14): checks the
 * sender's domain (RFC 7208 "MAIL FROM" identity; the null sender as
 * `postmaster@HELO`) against the client address, and with `check-helo` the
 * HELO identity too. The step only records: the `spf` and `spf-helo`
 * conditions read the results, and rules decide (`reject … when spf in
 * { fail }`). An error is a result (temperror), never the step's failure, so
 * on-error does not apply. What the pipeline and the runtime know of it; the
 * runner is run.ts. Pure.
 */
import type { KindDefinition, OptionSpec, StepDefinition } from '../spec.js';

export interface SpfStepOptions {
  /** Also check the HELO identity (RFC 7208 §2.3), recorded as `spf-helo`. */
  readonly checkHelo: boolean;
  /** The deadline of the whole check, every DNS lookup of it included. */
  readonly timeoutMs: number;
}

declare module '../../model/plan.js' {
  interface StepActions {
    spf: { readonly options: SpfStepOptions };
  }
}

const checkHelo = {
  name: 'check-helo',
  type: 'flag',
  default: null,
  what: 'check-helo',
  docName: '',
  example: '',
  doc: { allowed: '', meaning: 'also checks the HELO name (`postmaster@HELO`), for the `spf-helo` condition' },
} as const satisfies OptionSpec<'flag'>;

export const SPF_DEFAULT_TIMEOUT_MS = 5000;

const timeout = {
  name: 'timeout',
  type: 'duration',
  min: 1,
  max: 30_000,
  default: SPF_DEFAULT_TIMEOUT_MS,
  what: 'an SPF timeout',
  why: 'the check holds the client’s MAIL FROM up',
  docName: 'DURATION',
  example: '3s',
  doc: {
    allowed: '',
    meaning: 'how long the whole check may take, every DNS lookup of it included: later, the result is `temperror`',
  },
} as const satisfies OptionSpec<'duration'>;

const options = { 'check-helo': checkHelo, timeout } as const;

export const spfStep = {
  keyword: 'spf',
  argument: null,
  options,
  // RFC 7208 checks the MAIL FROM identity: the sender is known from mail-from.
  phases: { earliest: 'mail-from', default: 'mail-from', why: 'it needs the sender' },
  ends: null,
  // It only records; rules decide.
  decides: [],
  checks: [],
  codes: [],
  needsDataLine: () => false,
  compile: ({ options: o }) => ({ kind: 'spf', options: { checkHelo: o['check-helo'] === true, timeoutMs: o.timeout } }),
  compiles: ['spf'],
} as const satisfies StepDefinition<null, typeof options, 'spf'>;

export const spfKind: KindDefinition<'spf'> = {
  kind: 'spf',
  // The check's own deadline ends it with temperror; the runtime's (plus its margin) backs it up.
  timing: { mode: 'async', deadlineMs: (a) => a.options.timeoutMs, selfTimed: false },
  // It only records: a dry-run step checks all the same.
  dryRun: 'run',
  delaysClient: false,
  describe: {
    text: (a) => {
      const o = a.options;
      const helo = o.checkHelo ? ' check-helo' : '';
      const deadline = o.timeoutMs === SPF_DEFAULT_TIMEOUT_MS ? '' : ` timeout ${o.timeoutMs}ms`;
      return `spf${helo}${deadline}`;
    },
  },
};
