/**
 * The vocabulary step kinds are declared in: what a step takes (its argument
 * and options, each a typed value with its range and default), where it may
 * run, what it decides, how it compiles, and, per compiled kind, how the
 * runtime times it and how logs and tools describe it.
 *
 * Two levels, because what is written and what runs differ: `postgrey` and
 * `policy` are two keywords of one kind, and `reject` at connect compiles to
 * kind `disconnect`. A StepDefinition is one keyword (the rules pipeline reads
 * it); a KindDefinition is one compiled kind (the runtime, describe and the
 * tools read it). steps/catalogue.ts lists both.
 *
 * Pure: types, and the one table of value shapes. Nothing here does I/O or
 * loads runner code, so compiling rules can read every definition.
 */
import type { ResolverAddress } from '../dns/resolver-address.js';
import type { DnsListEntry } from '../dns/sites.js';
import type { PolicyAddress } from '../model/address.js';
import type { LimitKey, RateValue } from '../model/limits.js';
import type { FilterDecision } from '../model/decision.js';
import type { RulePhase } from '../model/phases.js';
import type { ActionOf, StepKind } from '../model/plan.js';
import type { StepDetail } from '../model/runner.js';
import type { SourceSpan } from '../model/span.js';
import type { ChoiceWord, OptionWord } from './words.js';

/**
 * The types a written value can have, and what each means once checked. One
 * parser per type (dsl/values.ts) checks the text, once; compile only reads.
 */
export interface ValueTypes {
  /** Milliseconds: `3s`, `500ms` (E020; out of range E021). */
  duration: number;
  /** A whole number (E022; out of range E023). */
  count: number;
  /** One SMTP reply line, `4xx`/`5xx`, space, text (E030–E032, W006). */
  reply: string;
  /** `unix:/path`, `tcp:host:port` (E024). */
  'policy-address': PolicyAddress;
  /** `sqlite:/…`, `redis://…`, as written (E025). */
  'store-url': string;
  /** The option word alone (`header`). */
  flag: true;
  /** `disconnect ["REPLY"]` or `log`; `reply` is null when none was written. */
  choice: { readonly word: ChoiceWord; readonly reply: string | null };
  /** A DNS list, postscreen's `zone=filter*weight` then named codes (E070). */
  'dns-list': DnsListEntry;
  /** The name a DNS list is shown and tested by (E071). */
  'dns-name': string;
  /** A dedicated resolver, `127.0.0.1:5353` or `[::1]:5353` (E072). */
  'resolver-address': ResolverAddress;
  /** rspamd's address, `http://host:port` (E095), normalised without a trailing slash. */
  'http-url': string;
  /** An rspamd settings id: letters, digits, `-`, `_`, `.` (E096). */
  'settings-id': string;
  /** Score points and their label, `+2 "no-rdns"`: thousandths (model/score.ts) and a word (E075, E076). */
  points: { readonly milli: number; readonly label: string };
  /** A limit's rate, `"30/1h"`, or a count at once, `"10"` (E085). */
  rate: RateValue;
  /** What a limit counts per, `"src(24,64)+sender-domain"` or `"global"` (E086). */
  'limit-key': LimitKey;
  /** A counter store: `memory:`, `sqlite:/…`, `redis://…`, as written (E087). */
  'counter-store-url': string;
  /** A DKIM signing domain (d=), lower-cased (E107). */
  'signing-domain': string;
  /** A DKIM selector (s=) (E108). */
  'dkim-selector': string;
  /** A key file's path as written, read at compile (E109; the file: E110, E111). */
  'key-file': string;
}

export type ValueType = keyof ValueTypes;

/**
 * The tokens that follow a step keyword or an option word: nothing, a number
 * (a duration or a count), a string, a server address, a choice word with
 * an optional reply, or a number and a string (a score's points and label). One grammar alternative each, so a value of the wrong
 * shape (`store 5`, `pause` alone) stays a syntax error.
 */
export type ValueShape = 'none' | 'number' | 'string' | 'address' | 'choice' | 'points';

export const SHAPE_OF: { readonly [T in ValueType]: ValueShape } = {
  duration: 'number',
  count: 'number',
  reply: 'string',
  'policy-address': 'address',
  'store-url': 'string',
  flag: 'none',
  choice: 'choice',
  'dns-list': 'string',
  'dns-name': 'string',
  'resolver-address': 'string',
  'http-url': 'string',
  'settings-id': 'string',
  points: 'points',
  rate: 'string',
  'limit-key': 'string',
  'counter-store-url': 'string',
  'signing-domain': 'string',
  'dkim-selector': 'string',
  'key-file': 'string',
};

/** A value a step takes: its type and the range the checker holds it to. */
export interface ValueSpec<T extends ValueType = ValueType> {
  readonly type: T;
  /** Inclusive bounds, in the value's unit (ms for durations); absent: unbounded. */
  readonly min?: number;
  readonly max?: number;
  /** What the range message calls it: "a pause" → "a pause must be more than 0 and at most 5m, not 6m". */
  readonly what: string;
  /** The hint of the range error: why the bound is where it is. */
  readonly why?: string;
  /** For `choice`: the words it takes, and which of them may be followed by a reply. */
  readonly choices?: readonly { readonly word: ChoiceWord; readonly reply: boolean }[];
  /** How signature tables name the value: DURATION, REPLY, COUNT. */
  readonly docName: string;
  /** A valid value as written in a rules file (`3s`, `"550 5.7.1 refused"`): every step compiles from its examples. */
  readonly example: string;
}

/** An option a step takes (`delay DURATION`): a value with a name, a default and its documentation. */
export interface OptionSpec<T extends ValueType = ValueType> extends ValueSpec<T> {
  readonly name: OptionWord;
  /** The value when the option is not written; null: off (the compiled action has no such property). */
  readonly default: ValueTypes[T] | null;
  /**
   * The cells of the options table in grammar/REFERENCE.md and filter-rules.rules(5)
   * (generated by dsl/signatures.ts), in a little Markdown (`code`). `allowed`
   * is what the values must be beyond the range, which the table states from
   * min and max ('' when the range says it all); `meaning` what the option does.
   */
  readonly doc: { readonly allowed: string; readonly meaning: string };
}

/** A step's options, keyed by their word. */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/**
 * An option's value as compile sees it: the checked value, or the default
 * when it was not written; `undefined` for an option that is off by default
 * (`null extends default`, so the erased OptionSpecs also reads as optional).
 */
export type OptionValue<S extends OptionSpec> = null extends S['default'] ? ValueTypes[S['type']] | undefined : ValueTypes[S['type']];

/** What compile reads: checked values, defaults applied. Nothing to parse, nothing that can fail. */
export interface StepInput<A extends ValueType | null, O extends OptionSpecs> {
  readonly argument: A extends ValueType ? ValueTypes[A] : null;
  readonly options: { readonly [N in keyof O]: OptionValue<O[N]> };
  /** The phase the step runs at (inferred, or moved by `at`). */
  readonly phase: RulePhase;
  /** The text of the file its `loads` names, read and checked at compile (a key); null for a step that loads none. */
  readonly loaded: string | null;
}

/** Where one option was written. */
export interface OptionPlace {
  /** The option word. */
  readonly keywordSpan: SourceSpan;
  /** The option with its value. */
  readonly span: SourceSpan;
  /** The value after the word (E026 points at the delay written); null for a flag, which has none. */
  readonly valueSpan: SourceSpan | null;
}

/**
 * One written step, as its definition's checks see it: spans and placement,
 * and values already checked by their type's parser.
 */
export interface CheckView {
  /** The step keyword as written. */
  readonly keyword: string;
  readonly actionSpan: SourceSpan;
  /** The argument as written (a string's decoded text, a number's digits), checked or not; null when the step takes none. */
  readonly argument: { readonly text: string; readonly span: SourceSpan } | null;
  /**
   * The option's value at its LAST occurrence; null when it is absent, or that
   * value did not parse or is out of range (its own diagnostic says so).
   * Typed by the spec passed: `view.value(options.delay)` is a number.
   */
  value<T extends ValueType>(option: OptionSpec<T>): ValueTypes[T] | null;
  /** Every occurrence of the option, in the order written (E044 reports the repeats). */
  occurrences(name: OptionWord): readonly OptionPlace[];
  /** The phase the step runs at, and its first `at` when one was written. */
  readonly placement: { readonly phase: RulePhase; readonly at: { readonly phase: RulePhase; readonly span: SourceSpan } | null };
  readonly chain: { readonly name: string; readonly nameSpan: SourceSpan };
}

/** Reports one diagnostic of a check; `code` is one of the definition's `codes`. */
export type CheckReport = (
  code: string,
  span: SourceSpan,
  message: string,
  extra?: { readonly hint?: string; readonly related?: readonly { readonly span: SourceSpan; readonly message: string }[] },
) => void;

/** A step-level check beyond what the value specs say (two options together, the chain's name). */
export type StepCheck = (view: CheckView, report: CheckReport) => void;

/** What a loaded file's check says of its text: fine, or what is wrong with it (reported at the option's value). */
export type LoadCheck = { readonly ok: true } | { readonly ok: false; readonly message: string; readonly hint?: string };

/**
 * A file a step reads at compile and on every reload (a DKIM key), through
 * the pipeline's injected readFile, relative to the rules file: so a missing
 * or malformed file is a located error in `check`, and a reload keeps the
 * running rules. Its text reaches compile as `StepInput.loaded`; it is never
 * shown in diagnostics (it may be a secret).
 */
export interface FileLoad {
  /** The option whose string value is the path. */
  readonly option: OptionWord;
  /** What messages call the file: `the DKIM key`. */
  readonly what: string;
  /** The code of a file that cannot be read, and of one whose text `check` refuses (documented as every code; not among `codes`, which are the checks'). */
  readonly unreadable: string;
  readonly malformed: string;
  readonly check: (text: string, view: CheckView) => LoadCheck;
}

/** A step keyword: what the rules pipeline reads to check and compile it. */
export interface StepDefinition<A extends ValueType | null = ValueType | null, O extends OptionSpecs = OptionSpecs, K extends StepKind = StepKind> {
  /** The reserved word that starts the step: `postgrey`. Unique in the catalogue. */
  readonly keyword: string;
  /** The value right after the keyword, or null for steps that take none. */
  readonly argument: A extends ValueType ? ValueSpec<A> : null;
  /** Options besides the language's own (`when`, `at`, `on-error`), by word. */
  readonly options: O;
  /**
   * `earliest`: the first phase it can run at (E042 before it, `why` says
   * what it needs there: "it needs the envelope"); `default`: where it runs
   * without `at` or a condition that moves it.
   */
  readonly phases: { readonly earliest: RulePhase; readonly default: RulePhase; readonly why?: string };
  /** What it does to the chain when it runs unconditionally (W007), before smtpd's rules apply; null: the chain goes on. */
  readonly ends: 'accept' | 'reject' | 'disconnect' | null;
  /** The decisions it takes by itself, checked against smtpd's rules (protocol/smtpd-rules.ts): E040, W005. */
  readonly decides: readonly FilterDecision['type'][];
  readonly checks: readonly StepCheck[];
  /** The file it loads at compile, if any (see FileLoad). */
  readonly loads?: FileLoad;
  /** Every code `checks` may report. */
  readonly codes: readonly string[];
  /** Whether it may add headers (data-line), given the option words written; a dry-run step never does. */
  readonly needsDataLine: (written: ReadonlySet<string>) => boolean;
  /**
   * The compiled action. A method, not a function property: the catalogue
   * lists definitions of different inputs as one StepDefinition type, which
   * only a method's parameter allows (the pipeline builds each input from
   * the same definition's specs).
   */
  compile(input: StepInput<A, O>): ActionOf<K>;
  /**
   * The kinds `compile` may produce, its own first: `reject` → reject, or
   * disconnect at connect. A step compiled to another than the first is named
   * after that kind in logs and tools (CompiledStep.name: `disconnect`).
   */
  readonly compiles: readonly K[];
}

/** What a skipped dry-run step would have done: waited (a pause), or added to the score. */
export type DryRunSkipped = 'pause' | 'score';

/** A compiled kind: what the runtime, the describe helpers and the tools read. */
export interface KindDefinition<K extends StepKind = StepKind> {
  readonly kind: K;
  /**
   * `sync`: the runner always answers at once (the runtime's fast path: no
   * promise, timer or abort scope). `async`: it may not; `deadlineMs` is the
   * step's own time (pause length, policy timeout) or the runtime's default;
   * `selfTimed`: its own timer ends it, so the runtime sets none (the request
   * watchdog still counts it); `isAsync`: false for actions that answer at
   * once after all (a zero pause). A margin is added by the runtime.
   */
  readonly timing:
    | { readonly mode: 'sync' }
    | {
        readonly mode: 'async';
        readonly deadlineMs: ((action: ActionOf<K>) => number) | 'default';
        readonly selfTimed: boolean;
        readonly isAsync?: (action: ActionOf<K>) => boolean;
      };
  /** A dry-run step: `run` it and note what it would have done, or `skip` it (a pause does not wait) and note this instead. */
  readonly dryRun: 'run' | { readonly skip: (action: ActionOf<K>) => { readonly would: DryRunSkipped; readonly detail: StepDetail } };
  /** It holds the client up (a pause): the early-talker log says whether the session was paused. */
  readonly delaysClient: boolean;
  /** Its runner's `startEarly` is called at connect, before the chain runs (DNS lookups, in parallel with a pause). */
  readonly startsAtConnect?: boolean;
  /**
   * Its runner reads the message at the client's final `.` (`readMessage`,
   * model/runner.ts) and may edit its header; sessions then hold their
   * messages (runtime/message-hold.ts). `deadlineMs`: the reading's own time
   * (a server's timeout); the runtime adds its margin.
   */
  readonly readsMessage?: { readonly deadlineMs: (action: ActionOf<K>) => number };
  /** It watches the client for early talk during the step (a pause with `pregreet`). */
  readonly watchesEarlyTalk?: (action: ActionOf<K>) => boolean;
  readonly describe: {
    /** One line for logs, the reload diff and the tools: `pause 3000ms pregreet log`. Every option shows, so two different actions never read the same. */
    readonly text: (action: ActionOf<K>) => string;
    /** What the `test` tool says the step answered (` answered DUNNO`, `: pass`); null or absent: the outcome's type. */
    readonly outcome?: (detail: StepDetail) => string | null;
    /** What the `test` tool says of a step it did not run (`pause 3s (not waited)`); absent: nothing of the kind's own. */
    readonly notRun?: (action: ActionOf<K>) => string;
  };
}
