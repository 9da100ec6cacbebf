/**
 * `greylist [delay D] [max-age D] [retry-window D] [auto-whitelist N]
 * [ipv4-prefix N] [ipv6-prefix N] [store "URL"] [header]`: the built-in
 * greylisting (postgrey's algorithm on a SQLite or Redis store). What the
 * rules pipeline and the runtime know of it, without the runner and the
 * stores (run.ts beside this file, greylist/, store/). Pure.
 */
import type { KindDefinition, CheckReport, CheckView, OptionSpec, StepDefinition } from '../spec.js';
import { formatDuration } from '../../support/units.js';

/** Options of the built-in greylisting step. */
export interface GreylistStepOptions {
  readonly delayMs: number;
  readonly maxAgeMs: number;
  readonly retryWindowMs: number;
  readonly autoWhitelistAfter: number;
  readonly ipv4Prefix: number;
  readonly ipv6Prefix: number;
  /** `sqlite:/path` or `redis://host:port/db`. */
  readonly store: string;
  readonly header: boolean;
}

declare module '../../model/plan.js' {
  interface StepActions {
    greylist: { readonly options: GreylistStepOptions };
  }
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

const delay = {
  name: 'delay',
  type: 'duration',
  min: 1000,
  max: DAY_MS,
  default: 5 * MINUTE_MS,
  what: 'the greylist delay',
  docName: 'DURATION',
  example: '10m',
  doc: { allowed: 'shorter than `retry-window` (E026)', meaning: 'how long a new triplet is refused before a retry passes' },
} as const satisfies OptionSpec<'duration'>;

const maxAge = {
  name: 'max-age',
  type: 'duration',
  min: DAY_MS,
  max: 3650 * DAY_MS,
  default: 35 * DAY_MS,
  what: 'max-age',
  docName: 'DURATION',
  example: '30d',
  doc: { allowed: '', meaning: 'how long a passed triplet is remembered' },
} as const satisfies OptionSpec<'duration'>;

const retryWindow = {
  name: 'retry-window',
  type: 'duration',
  min: MINUTE_MS,
  max: 365 * DAY_MS,
  default: 2 * DAY_MS,
  what: 'the retry window',
  docName: 'DURATION',
  example: '1d',
  doc: { allowed: '', meaning: 'how long after the first attempt a retry still counts' },
} as const satisfies OptionSpec<'duration'>;

const autoWhitelist = {
  name: 'auto-whitelist',
  type: 'count',
  min: 0,
  max: 1_000_000,
  default: 5,
  what: 'auto-whitelist',
  docName: 'COUNT',
  example: '10',
  doc: { allowed: '', meaning: 'after this many passed deliveries a client skips greylisting (0: never)' },
} as const satisfies OptionSpec<'count'>;

const ipv4Prefix = {
  name: 'ipv4-prefix',
  type: 'count',
  min: 1,
  max: 32,
  default: 24,
  what: 'ipv4-prefix',
  docName: 'COUNT',
  example: '32',
  doc: { allowed: '', meaning: 'IPv4 clients in the same /N count as one' },
} as const satisfies OptionSpec<'count'>;

const ipv6Prefix = {
  name: 'ipv6-prefix',
  type: 'count',
  min: 1,
  max: 128,
  default: 64,
  what: 'ipv6-prefix',
  docName: 'COUNT',
  example: '48',
  doc: { allowed: '', meaning: 'IPv6 clients in the same /N count as one' },
} as const satisfies OptionSpec<'count'>;

const store = {
  name: 'store',
  type: 'store-url',
  default: 'sqlite:/var/lib/filter-rules/greylist.db',
  what: 'the greylist store',
  docName: '"URL"',
  example: '"redis://127.0.0.1:6379/2"',
  doc: {
    allowed: '`"sqlite:/absolute/path.db"`, `"redis://[user:password@]host[:port][/db][?prefix=P]"`, `"valkey://…"` or `"redis+unix:///path.sock[?db=N]"` (E025)',
    meaning: 'where triplets are kept; filters sharing a Redis store share greylisting',
  },
} as const satisfies OptionSpec<'store-url'>;

const header = {
  name: 'header',
  type: 'flag',
  default: null,
  what: 'header',
  docName: '',
  example: '',
  doc: { allowed: '', meaning: 'adds an `X-Greylist:` header to mail that was delayed' },
} as const satisfies OptionSpec<'flag'>;

/** In the order the checker and the reference list them. */
const options = {
  delay,
  'max-age': maxAge,
  'retry-window': retryWindow,
  'auto-whitelist': autoWhitelist,
  'ipv4-prefix': ipv4Prefix,
  'ipv6-prefix': ipv6Prefix,
  store,
  header,
} as const;

/**
 * A sender must retry after the delay but within the retry window, so the
 * delay must be the shorter: otherwise no retry ever passes. Each side is its
 * last value written, or the default when not written; a value with its own
 * error (E020, E021) is not compared. E026 at the delay's value (at the step
 * when only the window was written).
 */
function delayInsideWindow(view: CheckView, report: CheckReport): void {
  const value = (spec: typeof delay | typeof retryWindow): number | null => (view.occurrences(spec.name).length === 0 ? spec.default : view.value(spec));
  const d = value(delay);
  const w = value(retryWindow);
  if (d === null || w === null || d < w) return;
  const at = view.occurrences('delay').at(-1)?.valueSpan ?? view.actionSpan;
  report('E026', at, `the greylist delay (${formatDuration(d)}) must be shorter than the retry window (${formatDuration(w)})`, {
    hint: 'a sender must retry after the delay but within the retry window',
  });
}

export const greylistStep = {
  keyword: 'greylist',
  argument: null,
  options,
  // The triplet is the client, the sender and the recipient.
  phases: { earliest: 'mail-from', default: 'rcpt-to', why: 'it needs the envelope' },
  ends: null,
  // A tempfail for a new triplet is the store's verdict at run time, not the keyword's.
  decides: [],
  checks: [delayInsideWindow],
  codes: ['E026'],
  needsDataLine: (written) => written.has(header.name),
  compile: ({ options: o }) => ({
    kind: 'greylist',
    options: Object.freeze({
      delayMs: o.delay,
      maxAgeMs: o['max-age'],
      retryWindowMs: o['retry-window'],
      autoWhitelistAfter: o['auto-whitelist'],
      ipv4Prefix: o['ipv4-prefix'],
      ipv6Prefix: o['ipv6-prefix'],
      store: o.store,
      header: o.header === true,
    }),
  }),
  compiles: ['greylist'],
} as const satisfies StepDefinition<null, typeof options, 'greylist'>;

export const greylistKind: KindDefinition<'greylist'> = {
  kind: 'greylist',
  // A store round trip: the runtime's default deadline.
  timing: { mode: 'async', deadlineMs: 'default', selfTimed: false },
  // A dry-run step asks the store all the same (and so records the triplet): what it would have done is the point.
  dryRun: 'run',
  delaysClient: false,
  describe: {
    // As the rules write it: the delay always, the other options when not the default.
    text: (a) => {
      const o = a.options;
      const parts = [`greylist delay ${o.delayMs}ms`];
      if (o.retryWindowMs !== retryWindow.default) parts.push(`retry-window ${o.retryWindowMs}ms`);
      if (o.maxAgeMs !== maxAge.default) parts.push(`max-age ${o.maxAgeMs}ms`);
      if (o.autoWhitelistAfter !== autoWhitelist.default) parts.push(`auto-whitelist ${o.autoWhitelistAfter}`);
      if (o.ipv4Prefix !== ipv4Prefix.default) parts.push(`ipv4-prefix ${o.ipv4Prefix}`);
      if (o.ipv6Prefix !== ipv6Prefix.default) parts.push(`ipv6-prefix ${o.ipv6Prefix}`);
      if (o.store !== store.default) parts.push(`store ${JSON.stringify(o.store)}`);
      if (o.header) parts.push('header');
      return parts.join(' ');
    },
    // The store's verdict: `pass`, `greylisted`, `skipped`.
    outcome: (d) => (typeof d.greylist === 'string' ? `: ${d.greylist}` : null),
  },
};
