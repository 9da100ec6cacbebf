/**
 * `limit "RATE" [burst N] [per "KEY"] [count WHAT] [strict]
 * [exceeded reject ["REPLY"] | disconnect ["REPLY"] | tarpit] [delay D]
 * [orphans-after D] [store "URL"]`: rate limits (GCRA, src/limits/gcra.ts)
 * and concurrency limits (sessions at once) per client, sender, recipient,
 * user or tuple, kept in a counter store (src/store/counter-*.ts). What the
 * rules pipeline and the runtime know of it; the runner is run.ts. Pure.
 */
import { KEY_PART_KNOWN_FROM, formatLimitKey, formatRate, type LimitKey, type RateValue } from '../../model/limits.js';
import { isEarlier, type RulePhase } from '../../model/phases.js';
import type { CheckReport, CheckView, KindDefinition, OptionSpec, StepDefinition, ValueSpec } from '../spec.js';

/** What a limit counts: one per connection, open session, transaction or message, recipient, or byte. */
export type LimitCount = 'connections' | 'sessions' | 'messages' | 'recipients' | 'bytes';

export type LimitExceeded =
  | { readonly action: 'reject'; readonly reply: string | null }
  | { readonly action: 'disconnect'; readonly reply: string | null }
  | { readonly action: 'tarpit' };

export interface LimitStepOptions {
  readonly rate: RateValue;
  /** Events at once from a full bucket; the rate's count when not written. */
  readonly burst: number;
  readonly key: LimitKey;
  readonly count: LimitCount;
  readonly strict: boolean;
  readonly exceeded: LimitExceeded;
  /** The tarpit's wait. */
  readonly delayMs: number;
  /** A session never released stops counting after this. */
  readonly orphanAfterMs: number;
  /** `memory:`, `sqlite:/path` or `redis://host:port/db`. */
  readonly store: string;
}

declare module '../../model/plan.js' {
  interface StepActions {
    limit: { readonly options: LimitStepOptions };
  }
}

export const LIMIT_DEFAULT_REPLY = '451 4.7.1 Rate limit exceeded, try again later';
export const LIMIT_DISCONNECT_REPLY = '421 4.7.0 Too many connections, closing';
const MINUTE_MS = 60_000;

/** Where each count can be counted, the first phase first (its default there). */
export const COUNT_PHASES: { readonly [C in LimitCount]: readonly RulePhase[] } = {
  connections: ['connect', 'helo'],
  sessions: ['connect'],
  messages: ['mail-from', 'data', 'commit'],
  recipients: ['rcpt-to'],
  bytes: ['commit'],
};

/** The count a limit makes without `count`, by its phase. */
export function defaultCount(phase: RulePhase): LimitCount {
  switch (phase) {
    case 'connect':
    case 'helo':
      return 'connections';
    case 'mail-from':
    case 'data':
    case 'commit':
      return 'messages';
    case 'rcpt-to':
      return 'recipients';
  }
}

const rate = {
  type: 'rate',
  what: 'a limit rate',
  docName: '"RATE"',
  example: '"30/1h"',
} as const satisfies ValueSpec<'rate'>;

const burst = {
  name: 'burst',
  type: 'count',
  min: 1,
  max: 99_000_000,
  default: null,
  what: 'burst',
  docName: 'COUNT',
  example: '10',
  doc: { allowed: '', meaning: 'how many may pass at once from a full bucket (default: the rate\'s count); then one per period/count' },
} as const satisfies OptionSpec<'count'>;

const per = {
  name: 'per',
  type: 'limit-key',
  default: [{ kind: 'src', ipv4Prefix: 32, ipv6Prefix: 64 }],
  what: 'the limit key',
  docName: '"KEY"',
  example: '"src(24,64)+sender-domain"',
  doc: {
    allowed:
      '`"global"` or parts joined by `+`: `src`, `src(N)`, `src(N,M)` (the client address grouped by /N for IPv4, /M for IPv6), `rdns`, `helo`, `sender`, `sender-domain`, `auth-user`, `recipient`, `recipient-domain` (E086); each known at the step\'s phase (E089)',
    meaning: 'what the limit counts per: one counter for each value of the key',
  },
} as const satisfies OptionSpec<'limit-key'>;

const count = {
  name: 'count',
  type: 'choice',
  choices: [
    { word: 'connections', reply: false },
    { word: 'sessions', reply: false },
    { word: 'messages', reply: false },
    { word: 'recipients', reply: false },
    { word: 'bytes', reply: false },
  ],
  default: null,
  what: 'count',
  docName: 'connections | sessions | messages | recipients | bytes',
  example: 'recipients',
  doc: {
    allowed:
      '`connections` (at connect or helo), `sessions` (open at once, at connect; the rate a count alone), `messages` (at mail-from, data or commit), `recipients` (at rcpt-to), `bytes` (at commit) (E088)',
    meaning: 'what one event is; default by the phase: connections, messages, recipients',
  },
} as const satisfies OptionSpec<'choice'>;

const strict = {
  name: 'strict',
  type: 'flag',
  default: null,
  what: 'strict',
  docName: '',
  example: '',
  doc: { allowed: '', meaning: 'a refused attempt counts too: the bucket is filled, so only a pause of one period/count lets the client in again' },
} as const satisfies OptionSpec<'flag'>;

const exceeded = {
  name: 'exceeded',
  type: 'choice',
  choices: [
    { word: 'reject', reply: true },
    { word: 'disconnect', reply: true },
    { word: 'tarpit', reply: false },
  ],
  default: null,
  what: 'exceeded',
  docName: 'reject ["REPLY"] | disconnect ["REPLY"] | tarpit',
  example: 'disconnect',
  doc: {
    allowed: `\`reject\` (a temporary refusal, default reply \`${LIMIT_DEFAULT_REPLY}\` with the retry-after), \`disconnect\` (default \`${LIMIT_DISCONNECT_REPLY}\`), each reply a 4xx; \`tarpit\` waits \`delay\`, then goes on`,
    meaning: 'what a client over the limit gets (default reject with the 451); never a 5xx',
  },
} as const satisfies OptionSpec<'choice'>;

const delay = {
  name: 'delay',
  type: 'duration',
  min: 1000,
  max: 120_000,
  default: 10_000,
  what: 'the tarpit delay',
  why: 'smtpd gives up on a session after 300s',
  docName: 'DURATION',
  example: '15s',
  doc: { allowed: 'with `exceeded tarpit`', meaning: 'how long a tarpit holds the answer of a client over the limit' },
} as const satisfies OptionSpec<'duration'>;

const orphansAfter = {
  name: 'orphans-after',
  type: 'duration',
  min: MINUTE_MS,
  max: 7 * 86_400_000,
  default: 3_600_000,
  what: 'orphans-after',
  docName: 'DURATION',
  example: '2h',
  doc: { allowed: 'with `count sessions`', meaning: 'a session whose disconnect never came stops counting after this' },
} as const satisfies OptionSpec<'duration'>;

const store = {
  name: 'store',
  type: 'counter-store-url',
  default: 'memory:',
  what: 'the counter store',
  docName: '"URL"',
  example: '"redis://127.0.0.1:6379/3"',
  doc: {
    allowed: '`"memory:"` or `"memory:?max=N"` (one host, N keys at most), `"sqlite:/absolute/path.db"`, `"redis://…"`, `"valkey://…"` or `"redis+unix:///path.sock"` (E087)',
    meaning: 'where counters are kept; filters sharing a Redis store share counts',
  },
} as const satisfies OptionSpec<'counter-store-url'>;

const options = { burst, per, count, strict, exceeded, delay, 'orphans-after': orphansAfter, store } as const;

/** The count the step makes: the written one, or the phase's default. */
function countOf(view: CheckView): LimitCount | null {
  if (view.occurrences('count').length === 0) return defaultCount(view.placement.phase);
  const c = view.value(count);
  return c === null ? null : (c.word as LimitCount);
}

/** E088: a count where smtpd does not tell it; sessions take a count alone, the others a period. */
function countAtPhase(view: CheckView, report: CheckReport): void {
  const c = countOf(view);
  if (c === null) return;
  const phase = view.placement.phase;
  const at = view.occurrences('count').at(-1)?.valueSpan ?? view.actionSpan;
  if (!COUNT_PHASES[c].includes(phase)) {
    report('E088', at, `a limit cannot count ${c} at ${phase}`, { hint: `${c} are counted at ${COUNT_PHASES[c].join(' or ')}: write \`at ${COUNT_PHASES[c][0] ?? 'connect'}\`` });
    return;
  }
  const r = view.argument === null ? null : /^\s*[0-9]+\s*$/.test(view.argument.text);
  if (r === null) return;
  if (c === 'sessions' && !r) report('E088', at, 'count sessions limits sessions open at once: its rate is a count alone', { hint: 'write e.g. limit "10" count sessions' });
  if (c !== 'sessions' && r) report('E088', at, `a limit on ${c} needs a period`, { hint: 'write e.g. "30/1h"' });
}

/** E089: every part of the key must be known at the step's phase. */
function keyKnown(view: CheckView, report: CheckReport): void {
  const key = view.occurrences('per').length === 0 ? per.default : view.value(per);
  if (key === null) return;
  const phase = view.placement.phase;
  const at = view.occurrences('per').at(-1)?.valueSpan ?? view.actionSpan;
  for (const part of key) {
    const from = KEY_PART_KNOWN_FROM[part.kind];
    if (isEarlier(phase, from)) {
      report('E089', at, `the limit key part ${part.kind} is not known at ${phase}`, { hint: `smtpd tells it from ${from}: write \`at ${from}\` or another key` });
    } else if ((part.kind === 'recipient' || part.kind === 'recipient-domain') && phase !== 'rcpt-to') {
      // After rcpt-to a transaction has several recipients, and the key would have no one value.
      report('E089', at, `the limit key part ${part.kind} is known at rcpt-to only, not at ${phase}`, { hint: 'count recipients at rcpt-to, or key the limit on the sender' });
    }
  }
}

/** E090: rate × burst past what the stores count exactly (2^51 units). */
function exact(view: CheckView, report: CheckReport): void {
  const b = view.value(burst);
  if (b === null || view.argument === null) return;
  const m = /^\s*[0-9]+\s*\/\s*([0-9]*)([a-z]+)\s*$/.exec(view.argument.text);
  if (m === null) return;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? ''];
  if (unit === undefined) return;
  const periodMs = (m[1] === '' ? 1 : Number(m[1])) * unit;
  if (b * periodMs > 2 ** 51) report('E090', view.occurrences('burst').at(-1)?.valueSpan ?? view.actionSpan, `burst ${b} over a period of ${m[1]}${m[2]} is too large to count exactly`, { hint: 'a smaller burst, or a shorter period' });
}

/** E091: a limit's refusal is temporary: its reply must be a 4xx. */
function temporaryReply(view: CheckView, report: CheckReport): void {
  const e = view.value(exceeded);
  if (e === null || e.reply === null || e.reply.startsWith('4')) return;
  report('E091', view.occurrences('exceeded').at(-1)?.valueSpan ?? view.actionSpan, `a limit's reply must be a 4xx, not ${JSON.stringify(e.reply.slice(0, 3))}`, {
    hint: 'a client over a limit may come back later: never refuse it for good',
  });
}

export const limitStep = {
  keyword: 'limit',
  argument: rate,
  options,
  phases: { earliest: 'connect', default: 'rcpt-to' },
  ends: null,
  // A refusal is the counter's verdict at run time, not the keyword's.
  decides: [],
  checks: [countAtPhase, keyKnown, exact, temporaryReply],
  codes: ['E088', 'E089', 'E090', 'E091'],
  needsDataLine: () => false,
  compile: ({ argument, options: o, phase }) => {
    const c: LimitCount = o.count === undefined ? defaultCount(phase) : (o.count.word as LimitCount);
    const e = o.exceeded;
    const ex: LimitExceeded =
      e === undefined || e.word === 'reject'
        ? { action: 'reject', reply: e?.reply ?? null }
        : e.word === 'disconnect'
          ? { action: 'disconnect', reply: e.reply }
          : { action: 'tarpit' };
    return {
      kind: 'limit',
      options: Object.freeze({
        rate: argument,
        burst: o.burst ?? argument.count,
        key: o.per,
        count: c,
        strict: o.strict === true,
        exceeded: ex,
        delayMs: o.delay,
        orphanAfterMs: o['orphans-after'],
        store: o.store,
      }),
    };
  },
  compiles: ['limit'],
} as const satisfies StepDefinition<'rate', typeof options, 'limit'>;

/** The store round trip, and a tarpit's wait. */
const LIMIT_DEADLINE_MS = 5000;

export const limitKind: KindDefinition<'limit'> = {
  kind: 'limit',
  timing: {
    mode: 'async',
    deadlineMs: (a) => LIMIT_DEADLINE_MS + (a.options.exceeded.action === 'tarpit' ? a.options.delayMs : 0),
    selfTimed: false,
  },
  // A dry-run limit counts all the same: whether the client would be over is the point.
  dryRun: 'run',
  delaysClient: false,
  describe: {
    text: (a) => {
      const o = a.options;
      const parts = [`limit ${JSON.stringify(formatRate(o.rate))}`];
      if (o.burst !== o.rate.count) parts.push(`burst ${o.burst}`);
      parts.push(`per ${JSON.stringify(formatLimitKey(o.key))}`, `count ${o.count}`);
      if (o.strict) parts.push('strict');
      const ex = o.exceeded;
      if (ex.action === 'tarpit') parts.push(`exceeded tarpit delay ${o.delayMs}ms`);
      else if (ex.action === 'disconnect' || ex.reply !== null) parts.push(`exceeded ${ex.action}${ex.reply === null ? '' : ` ${JSON.stringify(ex.reply)}`}`);
      if (o.count === 'sessions' && o.orphanAfterMs !== orphansAfter.default) parts.push(`orphans-after ${o.orphanAfterMs}ms`);
      if (o.store !== store.default) parts.push(`store ${JSON.stringify(o.store)}`);
      return parts.join(' ');
    },
  },
};
