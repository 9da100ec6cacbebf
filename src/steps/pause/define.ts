/**
 * `pause DURATION [pregreet disconnect ["REPLY"] | pregreet log] [pay-once DURATION]`:
 * what the rules pipeline and the runtime know of a pause, without its
 * runner (the timer, the early-talker watch and the pay-once memory are
 * run.ts and pregreet.ts beside this file). Pure.
 */
import { formatDuration } from '../../support/units.js';
import type { CheckReport, CheckView, KindDefinition, OptionSpec, StepDefinition, ValueSpec } from '../spec.js';

/**
 * Early talkers during a pause (postscreen's "pregreet" test): a client that
 * sends bytes before the banner is refused (`disconnect`, with `reply`) or
 * only logged (`log`); either way a client that hangs up ends the pause.
 */
export interface PregreetOptions {
  readonly action: 'disconnect' | 'log';
  /** The reply for `disconnect` (a checked 4xx/5xx line). */
  readonly reply: string;
}

declare module '../../model/plan.js' {
  interface StepActions {
    pause: {
      readonly durationMs: number;
      /** `pregreet ...`: watch the client during the pause (Linux). Absent: off. */
      readonly pregreet?: PregreetOptions;
      /** `pay-once DURATION`: a client that sat through this pause skips it for that long. Absent: off. */
      readonly payOnceMs?: number;
    };
  }
}

/**
 * What `pregreet disconnect` answers a client that talked before the banner.
 * 554 like a refused connection (RFC 5321 §3.1); the text follows Postfix's
 * postscreen, whose pregreet test this is.
 */
export const PREGREET_DEFAULT_REPLY = '554 5.5.1 Protocol error: data sent before the greeting';

const DAY_MS = 86_400_000;

const duration = {
  type: 'duration',
  min: 1,
  max: 300_000,
  what: 'a pause',
  why: 'smtpd gives up on a session after 300s',
  docName: 'DURATION',
  example: '3s',
} as const satisfies ValueSpec<'duration'>;

const pregreet = {
  name: 'pregreet',
  type: 'choice',
  choices: [
    { word: 'disconnect', reply: true },
    { word: 'log', reply: false },
  ],
  default: null,
  what: 'pregreet',
  docName: 'disconnect ["REPLY"] | log',
  example: 'disconnect',
  doc: {
    allowed: `\`disconnect ["REPLY"]\` (default reply \`${PREGREET_DEFAULT_REPLY}\`, checked like any reply: E030–E032) or \`log\`; at connect only (E046)`,
    meaning:
      'during the pause, a client that sends anything is disconnected with REPLY, or with `log` only logged and counted while the pause goes on; a client that hangs up ends the pause. Not applied to implicit-TLS (smtps) sessions, where the client speaks first',
  },
} as const satisfies OptionSpec<'choice'>;

const payOnce = {
  name: 'pay-once',
  type: 'duration',
  min: 1000,
  max: 30 * DAY_MS,
  default: null,
  what: 'pay-once',
  docName: 'DURATION',
  example: '1d',
  doc: { allowed: '', meaning: 'a client address that sat through this pause (quietly, with `pregreet`) skips it for that long' },
} as const satisfies OptionSpec<'duration'>;

const options = { pregreet, 'pay-once': payOnce } as const;

/** `smtps`, `submissions` (RFC 8314's name for port 465) or `465` as a word of a chain name (`smtps-in`, `mx_465`). */
const IMPLICIT_TLS_NAME = /(?:^|[^a-z0-9])(?:smtps|submissions|465)(?:$|[^a-z0-9])/i;

export function namesImplicitTls(chainName: string): boolean {
  return IMPLICIT_TLS_NAME.test(chainName);
}

/**
 * Early talkers can only be seen before smtpd's reply: at connect that is
 * the banner, which is what `pregreet` (pre-greeting traffic) means. E046 at
 * every `pregreet` written.
 */
function pregreetAtConnect(view: CheckView, report: CheckReport): void {
  const { phase, at } = view.placement;
  if (phase === 'connect') return;
  for (const o of view.occurrences('pregreet')) {
    report('E046', o.keywordSpan, `\`pregreet\` needs the pause to run at connect, before the banner; this pause runs at ${phase}`, {
      related: at === null ? [] : [{ span: at.span, message: `the pause is placed at ${phase} here` }],
      hint: 'remove `pregreet`, or the `at`/`when` that moves the pause past connect',
    });
  }
}

/**
 * On an smtps listener the client speaks first (its TLS hello), so the filter
 * does not apply pregreet there (implicit-tls.ts). The rules cannot
 * know which listener a chain serves, except from what the author called it:
 * a chain named for smtps is the one clear signal. (A warning on every
 * pregreet would be noise: most chains serve port 25.) W009 at the first
 * `pregreet` written.
 */
function pregreetOnSmtps(view: CheckView, report: CheckReport): void {
  const { name, nameSpan } = view.chain;
  if (!namesImplicitTls(name)) return;
  const first = view.occurrences('pregreet')[0];
  if (first === undefined) return;
  report('W009', first.keywordSpan, `chain "${name}" is named for an smtps (implicit TLS) listener, where the client speaks first (its TLS hello): the filter does not apply \`pregreet\` there, so this pause runs without the early-talker check`, {
    related: [{ span: nameSpan, message: 'the chain is named here' }],
    hint: 'remove `pregreet` from this chain; the filter skips it on the ports given with --smtps-ports (default 465)',
  });
}

export const pauseStep = {
  keyword: 'pause',
  argument: duration,
  options,
  phases: { earliest: 'connect', default: 'connect' },
  ends: null,
  decides: [],
  checks: [pregreetAtConnect, pregreetOnSmtps],
  codes: ['E046', 'W009'],
  needsDataLine: () => false,
  compile: ({ argument, options: o }) => ({
    kind: 'pause',
    durationMs: argument,
    // Options only when written, so a plain pause compiles as it always did.
    ...(o.pregreet === undefined ? {} : { pregreet: Object.freeze({ action: o.pregreet.word === 'log' ? 'log' : 'disconnect', reply: o.pregreet.reply ?? PREGREET_DEFAULT_REPLY }) }),
    ...(o['pay-once'] === undefined ? {} : { payOnceMs: o['pay-once'] }),
  }),
  compiles: ['pause'],
} as const satisfies StepDefinition<'duration', typeof options, 'pause'>;

export const pauseKind: KindDefinition<'pause'> = {
  kind: 'pause',
  // Its own timer ends it; a zero pause (only hand-built: the checker wants more than 0) answers at once.
  timing: { mode: 'async', deadlineMs: (a) => a.durationMs, selfTimed: true, isAsync: (a) => a.durationMs > 0 },
  // A dry-run pause does not wait: it is noted as the pause it would have been.
  dryRun: { skip: (a) => ({ would: 'pause', detail: { pausedMs: a.durationMs } }) },
  delaysClient: true,
  watchesEarlyTalk: (a) => a.pregreet !== undefined,
  describe: {
    text: (a) => {
      // Every option shows: a step whose only change is an option must not read the same before and after.
      const early = a.pregreet === undefined ? '' : a.pregreet.action === 'log' ? ' pregreet log' : ` pregreet disconnect ${JSON.stringify(a.pregreet.reply)}`;
      const payOnceText = a.payOnceMs === undefined ? '' : ` pay-once ${a.payOnceMs}ms`;
      return `pause ${a.durationMs}ms${early}${payOnceText}`;
    },
    notRun: (a) => `pause ${formatDuration(a.durationMs)} (not waited)`,
  },
};
