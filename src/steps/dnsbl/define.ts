/**
 * `dnsbl "zen.spamhaus.org=127.0.0.[2..11]*3 sbl=127.0.0.2" [as "zen"]
 * [resolver "127.0.0.1:5353"] [timeout DURATION]`: asks a DNS list about the
 * client address (issue 12). The argument is postscreen's
 * postscreen_dnsbl_sites entry, verbatim, then named return codes. The step
 * records what the list said under its name (the `listed` and `dns-error`
 * conditions read it), adds the weight of a listing to the session's score
 * (once, labelled with the name), and decides by the weight: positive
 * refuses a listed client with postscreen's reply, negative accepts it, 0
 * only records. With `score-only` it decides nothing: the lists add their
 * weights and a `score` condition decides, as postscreen's threshold does.
 * An error never decides and adds nothing. Its lookup starts at connect (`startsAtConnect`), so
 * it runs while a pause does. What the pipeline and the runtime know of it;
 * the runner is run.ts. Pure.
 */
import { formatResolverAddress, type ResolverAddress } from '../../dns/resolver-address.js';
import { formatDnsListEntry, type DnsListEntry } from '../../dns/sites.js';
import type { CheckReport, CheckView, KindDefinition, OptionSpec, StepDefinition, ValueSpec } from '../spec.js';

export interface DnsblStepOptions {
  readonly entry: DnsListEntry;
  /** What logs, replies and conditions call the list: `as`, or the zone. */
  readonly name: string;
  /** A dedicated resolver; null: the system's (resolv.conf). */
  readonly resolver: ResolverAddress | null;
  /** The deadline of one lookup, from when it starts (at connect). */
  readonly timeoutMs: number;
  /** `score-only`: a listing adds the weight to the score and decides nothing. */
  readonly scoreOnly: boolean;
}

declare module '../../model/plan.js' {
  interface StepActions {
    dnsbl: { readonly options: DnsblStepOptions };
  }
}

const list = {
  type: 'dns-list',
  what: 'the DNS list',
  docName: 'LIST',
  example: '"zen.spamhaus.org=127.0.0.[2..11]*3 sbl=127.0.0.2 xbl=127.0.0.[4..7]"',
} as const satisfies ValueSpec<'dns-list'>;

const as = {
  name: 'as',
  type: 'dns-name',
  default: null,
  what: 'the name of the list',
  docName: 'NAME',
  example: '"zen"',
  doc: {
    allowed: 'a letter, then letters, digits, `-` and `_` (E071)',
    meaning: 'the name logs, replies and `listed in` use (default: the zone), so that a zone with a secret key never shows',
  },
} as const satisfies OptionSpec<'dns-name'>;

const resolver = {
  name: 'resolver',
  type: 'resolver-address',
  default: null,
  what: 'the resolver',
  docName: 'ADDRESS',
  example: '"127.0.0.1:5353"',
  doc: { allowed: '`"IPv4[:PORT]"` or `"[IPv6]:PORT"` (E072)', meaning: 'a dedicated resolver to ask (default: the system’s, from resolv.conf)' },
} as const satisfies OptionSpec<'resolver-address'>;

export const DNSBL_DEFAULT_TIMEOUT_MS = 2000;

const timeout = {
  name: 'timeout',
  type: 'duration',
  min: 1,
  max: 30_000,
  default: DNSBL_DEFAULT_TIMEOUT_MS,
  what: 'a DNS list timeout',
  why: 'a lookup that takes longer holds every session up',
  docName: 'DURATION',
  example: '3s',
  doc: { allowed: '', meaning: 'how long a lookup may take, counted from the connection: later, the list counts as an error' },
} as const satisfies OptionSpec<'duration'>;

const scoreOnly = {
  name: 'score-only',
  type: 'flag',
  default: null,
  what: 'score-only',
  docName: '',
  example: '',
  doc: { allowed: '', meaning: 'a listing only adds the weight to the score: the step decides nothing, `score` conditions do (postscreen’s threshold)' },
} as const satisfies OptionSpec<'flag'>;

const options = { as, resolver, timeout, 'score-only': scoreOnly } as const;

/** A first label this long, of letters and digits, reads like an access key (Spamhaus DQS: 26 characters). */
const KEY_LIKE = /^[a-z0-9]{16,}$/;

/** W020: a zone that may hold a secret key, and no `as` to keep it out of logs and replies. */
function secretZone(view: CheckView, report: CheckReport): void {
  const written = view.argument;
  if (written === null || view.occurrences('as').length > 0) return;
  const zone = /^\s*([^=*\s,]+)/.exec(written.text)?.[1]?.toLowerCase() ?? '';
  const first = zone.split('.')[0] ?? '';
  if (zone.split('.').length < 3 || !KEY_LIKE.test(first) || !/[0-9]/.test(first)) return;
  report('W020', written.span, 'the zone may hold a secret key, and logs and replies name the list by its zone', {
    hint: 'give the list a name to show instead: `as "zen"`',
  });
}

export const dnsblStep = {
  keyword: 'dnsbl',
  argument: list,
  options,
  phases: { earliest: 'connect', default: 'connect' },
  ends: null,
  // What it decides depends on the answer; adapted to smtpd's rules at run time.
  decides: [],
  checks: [secretZone],
  codes: ['W020'],
  needsDataLine: () => false,
  compile: ({ argument, options: o }) => ({
    kind: 'dnsbl',
    options: { entry: argument, name: o.as ?? argument.site.zone, resolver: o.resolver ?? null, timeoutMs: o.timeout, scoreOnly: o['score-only'] === true },
  }),
  compiles: ['dnsbl'],
} as const satisfies StepDefinition<'dns-list', typeof options, 'dnsbl'>;

/** postscreen's reply for a client refused by a DNS list (postscreen(8), "blocked using"). */
export function dnsblReply(client: string, name: string): string {
  return `550 5.7.1 Service unavailable; client [${client}] blocked using ${name}`;
}

export const dnsblKind: KindDefinition<'dnsbl'> = {
  kind: 'dnsbl',
  // The client's deadline answers first (a timeout is an error, the chain goes on); the runtime's backs it up.
  timing: { mode: 'async', deadlineMs: (a) => a.options.timeoutMs, selfTimed: false },
  // A dry-run list is asked all the same: what it would have done is the point.
  dryRun: 'run',
  delaysClient: false,
  startsAtConnect: true,
  describe: {
    // The zone only when it is the name: a zone named `as` may hold a key.
    text: (a) => {
      const o = a.options;
      const entry = formatDnsListEntry(o.entry);
      const shown = o.name === o.entry.site.zone ? entry : `as "${o.name}" ${entry.slice(o.entry.site.zone.length).trim()}`;
      const server = o.resolver === null ? '' : ` resolver ${formatResolverAddress(o.resolver)}`;
      const deadline = o.timeoutMs === DNSBL_DEFAULT_TIMEOUT_MS ? '' : ` timeout ${o.timeoutMs}ms`;
      return `dnsbl ${shown}${server}${deadline}${o.scoreOnly ? ' score-only' : ''}`.trimEnd();
    },
  },
};
