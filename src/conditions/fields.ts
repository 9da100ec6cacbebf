/**
 * The condition fields, one row each: everything the rules pipeline and the
 * runtime need to know about a field the left side of a test can name —
 * from which phase it is known, which tests it takes, which list items fit
 * it and how they match, how its value is read for a predicate and shown in
 * a log line. The checker (E045, E015), the predicates, phase inference and
 * runtime/explain read these rows, so a new field is one row here (plus its
 * token, its SessionFacts field and its prose).
 *
 * Pure: rows are data and small functions over SessionFacts.
 */
import type { RspamdVerdict } from '../model/message.js';
import type { Predicate, SessionFacts } from '../model/plan.js';
import type { RulePhase } from '../model/phases.js';
import { SPF_RESULTS, type SpfIdentity } from '../model/auth.js';
import { formatScore } from '../model/score.js';
import { parseTlsString } from '../model/tls.js';
import { addressMatcher, describeItem, heloMatcher, hostMatcher, ipMatcher, userMatcher, wordMatcher, type ItemKind, type ItemValue, type ListIndex, type ValueMatcher } from './items.js';

/** A field's value in a log line: a recipient list at data/commit, null when unknown. */
export type ExplainValue = string | readonly string[] | null;

/** Client-supplied values (HELO, addresses) can be long: logs get a bounded prefix. */
export const MAX_EXPLAINED_CHARS = 200;
const MAX_EXPLAINED_RECIPIENTS = 10;

function bounded(value: string): string {
  return value.length > MAX_EXPLAINED_CHARS ? `${value.slice(0, MAX_EXPLAINED_CHARS)}…` : value;
}

/** What `FIELD in LIST` takes: the list items that make sense for the field, and how they match its value. */
export interface ListFit {
  readonly items: readonly ItemKind[];
  /** What the field is compared with, for E015: "IP addresses and ranges". */
  readonly wants: string;
  /** E015's hint for an item kind that does not fit, when there is a better way to write it. */
  readonly hints?: Partial<Record<ItemKind, string>>;
  /**
   * Set when the field's values are compared whole: a domain pattern
   * (`.example.com`) does not fit even where domains do (E015), with this hint.
   */
  readonly noPatterns?: { readonly hint: string };
  /** Built once per list and field, at compile time. */
  readonly matcher: (index: ListIndex) => ValueMatcher;
  /**
   * Set when the field's values are a closed set of words (SPF results): an
   * item that is none of them can never match (E105).
   */
  readonly words?: { readonly allowed: readonly string[]; readonly what: string };
}

/**
 * What `FIELD >= NUMBER` (and `>`, `<=`, `<`) takes: how the field's value
 * is read as a number, and which numbers make sense to compare it with.
 */
export interface CompareFit {
  /** The value compared; null when unknown, and then no comparison is true. */
  readonly read: (f: SessionFacts) => number | null;
  /** What the number on the right is, for E074: "a score such as 2.5". */
  readonly wants: string;
  /** Only whole numbers (a count): a decimal is E074. */
  readonly integer?: true;
  /** The smallest number that makes sense (0 for a count); below it is E074. */
  readonly min?: number;
}

export interface FieldDefinition<N extends string = string> {
  /** The reserved word: `mail-from`. */
  readonly name: N;
  /** The phase from which smtpd has told the filter the field's value (phase inference, E041). */
  readonly knownFrom: RulePhase;
  /** The tests the field takes; any other is E045. */
  readonly tests: {
    readonly present?: { readonly predicate: Predicate };
    readonly match?: true;
    readonly in?: ListFit;
    readonly compare?: CompareFit;
  };
  /** E045's text for a test the field does not take; see wrongTestOf for the default. */
  readonly wrongTest?: { readonly message: string; readonly hint: string };
  /** The value `~` and `in` test; null when unknown (never matches). */
  readonly read: (f: SessionFacts) => string | null;
  /** How a test of the value becomes the field's predicate, when it is not `test(read(facts))`. */
  readonly lift?: (test: (value: string | null) => boolean) => Predicate;
  /** The value a log line shows for the field (bounded: clients choose these strings). */
  readonly explain: (f: SessionFacts) => ExplainValue;
  /**
   * Set when only a step of the chain gives the field its value (`spf` by the
   * `spf` step; `spf-helo` by one with `check-helo`): a test of it with no
   * such step running before is never true (W040, W041).
   */
  readonly producedBy?: { readonly keyword: string; readonly option?: string };
}

const src: FieldDefinition<'src'> = {
  name: 'src',
  knownFrom: 'connect',
  tests: {
    match: true,
    in: {
      items: ['ip'],
      wants: 'IP addresses and ranges',
      hints: { domain: 'to match client host names, use `rdns in` with a separate list' },
      matcher: ipMatcher,
    },
  },
  // smtpd's local enqueue socket has no address: unknown, so it matches nothing.
  read: (f) => (f.src === '' ? null : f.src),
  explain: (f) => (f.local ? 'local' : f.src === '' ? null : f.src),
};

const rdns: FieldDefinition<'rdns'> = {
  name: 'rdns',
  knownFrom: 'connect',
  tests: {
    // smtpd says `<unknown>` (null here) when the client has no PTR name.
    present: { predicate: (f) => f.rdns !== null && f.rdns !== '' },
    match: true,
    in: {
      items: ['domain'],
      wants: 'host names and domain patterns',
      hints: { ip: 'to match client addresses, use `src in` with a separate list' },
      matcher: hostMatcher,
    },
  },
  read: (f) => f.rdns,
  explain: (f) => (f.rdns === null ? null : bounded(f.rdns)),
};

const fcrdns: FieldDefinition<'fcrdns'> = {
  name: 'fcrdns',
  knownFrom: 'connect',
  tests: { present: { predicate: (f) => f.fcrdns === 'pass' } },
  wrongTest: { message: '`fcrdns` is a yes/no test and takes no `~` or `in`', hint: 'write `fcrdns` or `not fcrdns`; to match the name, use `rdns`' },
  read: (f) => f.fcrdns,
  explain: (f) => f.fcrdns,
};

const helo: FieldDefinition<'helo'> = {
  name: 'helo',
  knownFrom: 'helo',
  tests: {
    match: true,
    // Address literals (`[192.0.2.1]`) are compared with the IP items.
    in: { items: ['domain', 'ip'], wants: 'host names, domain patterns and IP addresses', matcher: heloMatcher },
  },
  read: (f) => f.helo,
  explain: (f) => (f.helo === null ? null : bounded(f.helo)),
};

const mailFrom: FieldDefinition<'mail-from'> = {
  name: 'mail-from',
  knownFrom: 'mail-from',
  tests: {
    match: true,
    in: { items: ['address', 'domain', 'null-sender'], wants: 'mail addresses, domains and the null sender ""', matcher: addressMatcher },
  },
  read: (f) => f.mailFrom,
  explain: (f) => (f.mailFrom === null ? null : bounded(f.mailFrom)),
};

const rcptTo: FieldDefinition<'rcpt-to'> = {
  name: 'rcpt-to',
  knownFrom: 'rcpt-to',
  tests: {
    match: true,
    in: { items: ['address', 'domain'], wants: 'mail addresses and domains', matcher: addressMatcher },
  },
  read: (f) => f.rcptTo,
  // At rcpt-to the test is on the recipient being decided on; at data and
  // commit (no current recipient) it is true when any accepted one passes.
  lift: (test) => (f) => (f.rcptTo !== null ? test(f.rcptTo) : f.recipients.some((r) => test(r))),
  explain: (f) => (f.rcptTo !== null ? bounded(f.rcptTo) : f.recipients.slice(0, MAX_EXPLAINED_RECIPIENTS).map(bounded)),
};

/*
 * TLS and SMTP AUTH. smtpd reports them (link-tls, link-auth) after the
 * client's first EHLO: STARTTLS needs an EHLO before it and AUTH is offered
 * only after it, so at helo a client that is about to do either has not done
 * it yet (that EHLO would see `not tls`, and a step refusing it would refuse
 * every STARTTLS client). Within a transaction neither changes: smtpd takes
 * STARTTLS and AUTH only outside one (smtp_check_starttls, smtp_check_auth),
 * each once per session; the next transaction sees what came in between.
 */

/** The version and the cipher of link-tls's `VERSION:CIPHER:BITS`; null without TLS (or for a string of another shape). */
const tlsPart = (f: SessionFacts, part: 'protocol' | 'cipher'): string | null => (f.tls === null ? null : (parseTlsString(f.tls)?.[part] ?? null));

const tls: FieldDefinition<'tls'> = {
  name: 'tls',
  knownFrom: 'mail-from',
  tests: { present: { predicate: (f) => f.tls !== null } },
  wrongTest: {
    message: '`tls` is a yes/no test and takes no `~` or `in`',
    hint: 'write `tls` or `not tls`; to match the version or the cipher, use `tls-version` or `tls-cipher`',
  },
  read: (f) => f.tls,
  explain: (f) => (f.tls === null ? null : bounded(f.tls)),
};

/** TLS versions and cipher names are compared whole (wordMatcher): what a list of them may hold. */
const tlsWords = (wants: string): ListFit => ({
  items: ['domain'],
  wants,
  noPatterns: { hint: 'list the names in full, or use `~ /REGEX/` for a pattern' },
  matcher: wordMatcher,
});

const tlsVersion: FieldDefinition<'tls-version'> = {
  name: 'tls-version',
  knownFrom: 'mail-from',
  tests: { match: true, in: tlsWords('TLS versions such as TLSv1.3') },
  wrongTest: { message: '`tls-version` needs `~ /REGEX/` or `in LIST`', hint: 'e.g. `tls-version in { TLSv1.2, TLSv1.3 }`; to test whether TLS is on, use `tls`' },
  read: (f) => tlsPart(f, 'protocol'),
  explain: (f) => {
    const v = tlsPart(f, 'protocol');
    return v === null ? null : bounded(v);
  },
};

const tlsCipher: FieldDefinition<'tls-cipher'> = {
  name: 'tls-cipher',
  knownFrom: 'mail-from',
  tests: { match: true, in: tlsWords('cipher names such as TLS_AES_256_GCM_SHA384') },
  wrongTest: { message: '`tls-cipher` needs `~ /REGEX/` or `in LIST`', hint: 'e.g. `tls-cipher ~ /^TLS_AES_/`; to test whether TLS is on, use `tls`' },
  read: (f) => tlsPart(f, 'cipher'),
  explain: (f) => {
    const v = tlsPart(f, 'cipher');
    return v === null ? null : bounded(v);
  },
};

const authenticated: FieldDefinition<'authenticated'> = {
  name: 'authenticated',
  knownFrom: 'mail-from',
  // Only a link-auth that said `pass` sets authUser: a failed AUTH authenticates nobody.
  tests: { present: { predicate: (f) => f.authUser !== null } },
  wrongTest: {
    message: '`authenticated` is a yes/no test and takes no `~` or `in`',
    hint: 'write `authenticated` or `not authenticated`; to match the user name, use `auth-user`',
  },
  read: (f) => f.authUser,
  explain: (f) => (f.authUser === null ? null : bounded(f.authUser)),
};

const authUser: FieldDefinition<'auth-user'> = {
  name: 'auth-user',
  knownFrom: 'mail-from',
  tests: {
    match: true,
    in: {
      items: ['domain', 'address'],
      wants: 'user names such as alice or alice@example.com',
      hints: { ip: 'to match client addresses, use `src in` with a separate list' },
      noPatterns: { hint: 'list the user names in full; to match every user at a domain, use `auth-user ~ /@example\\.com$/`' },
      matcher: userMatcher,
    },
  },
  wrongTest: { message: '`auth-user` needs `~ /REGEX/` or `in LIST`', hint: 'e.g. `auth-user in admins`; to test whether the client authenticated, use `authenticated`' },
  read: (f) => f.authUser,
  explain: (f) => (f.authUser === null ? null : bounded(f.authUser)),
};

/*
 * DNS lists (issue 12): what the `dnsbl` steps that ran so far found, by the
 * lists' names. A list that listed the client stands as its name and as
 * NAME.CODE for each named code that matched (`zen`, `zen.sbl`); a test of
 * such a set is true when one of them passes. Before the step ran, or
 * without it, the set is empty.
 */
const dnsListNames = (f: SessionFacts, status: 'listed' | 'error'): readonly string[] => f.dnsLists?.names(status) ?? [];

const dnsListWords = (wants: string): ListFit => ({
  items: ['domain'],
  wants,
  noPatterns: { hint: 'list the names in full: the name of a `dnsbl` step, or NAME.CODE' },
  matcher: wordMatcher,
});

const listed: FieldDefinition<'listed'> = {
  name: 'listed',
  knownFrom: 'connect',
  tests: {
    present: { predicate: (f) => dnsListNames(f, 'listed').length > 0 },
    match: true,
    in: dnsListWords('names of DNS lists (`as`), or NAME.CODE for a named code'),
  },
  read: (f) => dnsListNames(f, 'listed')[0] ?? null,
  lift: (test) => (f) => dnsListNames(f, 'listed').some((n) => test(n)),
  explain: (f) => dnsListNames(f, 'listed'),
};

const dnsError: FieldDefinition<'dns-error'> = {
  name: 'dns-error',
  knownFrom: 'connect',
  tests: {
    present: { predicate: (f) => dnsListNames(f, 'error').length > 0 },
    match: true,
    in: dnsListWords('names of DNS lists (`as`)'),
  },
  read: (f) => dnsListNames(f, 'error')[0] ?? null,
  lift: (test) => (f) => dnsListNames(f, 'error').some((n) => test(n)),
  explain: (f) => dnsListNames(f, 'error'),
};

/*
 * The session's score (issue 12): what `score` steps and DNS-list weights
 * added so far, session part plus transaction part. 0 before anything added
 * to it, or without a session that keeps one.
 */
const score: FieldDefinition<'score'> = {
  name: 'score',
  knownFrom: 'connect',
  tests: { compare: { read: (f) => f.score?.total() ?? 0, wants: 'a score such as 5 or 2.5' } },
  wrongTest: { message: '`score` is a number: it takes `>=`, `>`, `<=` or `<`', hint: 'e.g. `score >= 5`' },
  read: (f) => String(f.score?.total() ?? 0),
  // The total it compared; the decision line's `score` shows what it is made of.
  explain: (f) => formatScore(f.score?.totalMilli() ?? 0),
};

/**
 * SPF (issue 14): what the `spf` step found for the current transaction, one
 * of RFC 7208's seven results; `spf-helo` is the HELO identity's, checked
 * with `check-helo`. Unknown (never matches) before the step ran, and from the
 * next transaction on until it runs again.
 */
const spfResultOf = (f: SessionFacts, identity: SpfIdentity): string | null => f.auth?.spf(identity) ?? null;

const spfWords: ListFit = {
  items: ['domain'],
  wants: 'SPF results: pass, fail, softfail, neutral, none, temperror, permerror',
  noPatterns: { hint: 'list the results by name, e.g. `{ fail, softfail }`' },
  matcher: wordMatcher,
  words: { allowed: SPF_RESULTS, what: 'an SPF result' },
};

function spfField<N extends 'spf' | 'spf-helo'>(name: N, identity: SpfIdentity): FieldDefinition<N> {
  return {
    name,
    producedBy: identity === 'helo' ? { keyword: 'spf', option: 'check-helo' } : { keyword: 'spf' },
    knownFrom: 'mail-from',
    tests: { in: spfWords },
    wrongTest: { message: `\`${name}\` needs \`in LIST\``, hint: `e.g. \`${name} in { fail }\`` },
    read: (f) => spfResultOf(f, identity),
    explain: (f) => spfResultOf(f, identity),
  };
}

const spf = spfField('spf', 'mailfrom');
const spfHelo = spfField('spf-helo', 'helo');

/**
 * rspamd (issue 15): the verdict of the last `rspamd` step that read the
 * message, known at commit. The action with its spaces as hyphens
 * (`soft-reject`, `add-header`, `rewrite-subject`, `no-action`), so that it
 * is a list word; the symbols by name, without case.
 */
function rspamdVerdict(f: SessionFacts): RspamdVerdict | null {
  let last: { index: number; verdict: RspamdVerdict } | null = null;
  for (const [index, outcome] of f.messageReadings ?? []) {
    const verdict = outcome.ok ? outcome.reading.rspamd : undefined;
    if (verdict !== undefined && (last === null || index > last.index)) last = { index, verdict };
  }
  return last?.verdict ?? null;
}

const actionWord = (action: string): string => action.trim().toLowerCase().replace(/\s+/g, '-');

const rspamdAction: FieldDefinition<'rspamd-action'> = {
  name: 'rspamd-action',
  knownFrom: 'commit',
  tests: {
    match: true,
    in: {
      items: ['domain'],
      wants: 'rspamd actions: `reject`, `soft-reject`, `greylist`, `add-header`, `rewrite-subject`, `no-action`, or a custom action',
      noPatterns: { hint: 'list the actions in full, spaces as hyphens: `soft-reject`' },
      matcher: wordMatcher,
    },
  },
  wrongTest: { message: '`rspamd-action` needs `~ /REGEX/` or `in LIST`', hint: 'e.g. `rspamd-action in { reject soft-reject }`' },
  read: (f) => {
    const v = rspamdVerdict(f);
    return v === null ? null : actionWord(v.action);
  },
  explain: (f) => {
    const v = rspamdVerdict(f);
    return v === null ? null : bounded(actionWord(v.action));
  },
};

const rspamdSymbols = (f: SessionFacts): readonly string[] => rspamdVerdict(f)?.symbols ?? [];

const rspamdSymbol: FieldDefinition<'rspamd-symbol'> = {
  name: 'rspamd-symbol',
  knownFrom: 'commit',
  tests: {
    present: { predicate: (f) => rspamdSymbols(f).length > 0 },
    match: true,
    in: {
      items: ['domain'],
      wants: 'rspamd symbol names (`GTUBE`, `R_SPF_FAIL`)',
      noPatterns: { hint: 'list the symbols in full, or use `rspamd-symbol ~ /^BAYES_/`' },
      matcher: wordMatcher,
    },
  },
  wrongTest: { message: '`rspamd-symbol` needs `~ /REGEX/` or `in LIST`', hint: 'e.g. `rspamd-symbol in { GTUBE }`' },
  read: (f) => rspamdSymbols(f)[0] ?? null,
  lift: (test) => (f) => rspamdSymbols(f).some((s) => test(s)),
  explain: (f) => rspamdSymbols(f).slice(0, MAX_EXPLAINED_RECIPIENTS),
};

const rspamdScore: FieldDefinition<'rspamd-score'> = {
  name: 'rspamd-score',
  knownFrom: 'commit',
  tests: { compare: { read: (f) => rspamdVerdict(f)?.score ?? null, wants: 'an rspamd score such as 15 or 6.5' } },
  wrongTest: { message: '`rspamd-score` is a number: it takes `>=`, `>`, `<=` or `<`', hint: 'e.g. `rspamd-score > 20`' },
  read: (f) => {
    const v = rspamdVerdict(f);
    return v === null ? null : String(v.score);
  },
  explain: (f) => {
    const v = rspamdVerdict(f);
    return v === null ? null : String(v.score);
  },
};

/** Every condition field, in reserved-word order. */
export const FIELDS = [src, rdns, fcrdns, helo, mailFrom, rcptTo, tls, tlsVersion, tlsCipher, authenticated, authUser, listed, dnsError, score, spf, spfHelo, rspamdAction, rspamdSymbol, rspamdScore] as const satisfies readonly FieldDefinition[];


export type FieldName = (typeof FIELDS)[number]['name'];

/** The row of each field. Built from FIELDS, so it cannot miss one; each row is named by its own key. */
export const FIELD_BY_NAME = Object.freeze(Object.fromEntries(FIELDS.map((f) => [f.name, f]))) as { readonly [N in FieldName]: FieldDefinition<N> };

/** The row named `name`; null for a name that is no field (whenFields are plain strings in model/). */
export function fieldNamed(name: string): FieldDefinition | null {
  return Object.hasOwn(FIELD_BY_NAME, name) ? FIELD_BY_NAME[name as FieldName] : null;
}

/** E045's message and hint for a test `field` does not take. */
export function wrongTestOf(field: FieldDefinition): { readonly message: string; readonly hint: string } {
  return field.wrongTest ?? { message: `\`${field.name}\` needs \`~ /REGEX/\` or \`in LIST\``, hint: `e.g. \`${field.name} in trusted\`` };
}

/** E073's message and hint for a compare on a field that takes none. */
export function noCompareOf(field: FieldDefinition): { readonly message: string; readonly hint: string } {
  const numbers = FIELDS.filter((f) => f.tests.compare !== undefined).map((f) => `\`${f.name}\``);
  return {
    message: `\`${field.name}\` is not a number and takes no \`>=\`, \`>\`, \`<=\` or \`<\``,
    hint: `the fields that compare with a number: ${numbers.join(', ')}`,
  };
}

/**
 * The number of a compare (`2.5`, `-1`, `+3`), or what is wrong with it
 * (E074): decimals in plain notation, whole when the field says so, and not
 * below its minimum.
 */
export function compareNumber(text: string, fit: CompareFit): { ok: true; value: number } | { ok: false; message: string } {
  const wants = `\`>=\` and the like compare with ${fit.wants}`;
  if (!/^[+-]?[0-9]+(\.[0-9]+)?$/.test(text)) return { ok: false, message: `"${text}" is not a number: ${wants}` };
  const value = Number(text);
  if (fit.integer === true && !Number.isInteger(value)) return { ok: false, message: `"${text}" is not a whole number: ${wants}` };
  if (fit.min !== undefined && value < fit.min) return { ok: false, message: `"${text}" is below ${fit.min}: ${wants}` };
  return { ok: true, value };
}

/** The predicate for a test of the field's value: `lift`, or the test of `read`. */
export function liftTest(field: FieldDefinition, test: (value: string | null) => boolean): Predicate {
  if (field.lift !== undefined) return field.lift(test);
  const read = field.read;
  return (facts) => test(read(facts));
}

/** Null when the item `v` makes sense in a list tested with `FIELD in`; what is wrong otherwise (E015). */
export function misfit(v: ItemValue, fit: ListFit): { what: string; wants: string; hint?: string } | null {
  const pattern = v.kind === 'domain' && v.subdomains && fit.noPatterns !== undefined;
  if (fit.items.includes(v.kind) && !pattern) return null;
  const hint = pattern ? fit.noPatterns?.hint : fit.hints?.[v.kind];
  return hint === undefined ? { what: describeItem(v), wants: fit.wants } : { what: describeItem(v), wants: fit.wants, hint };
}
