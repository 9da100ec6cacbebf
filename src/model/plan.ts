/**
 * The compiled form of a rules file: the one contract between the rules
 * pipeline (src/dsl, pure) and the runtime (src/runtime). Everything here is
 * immutable data plus pure predicates, so a plan can be swapped atomically on
 * reload and shared by every session that started under it.
 */
import type { SessionAuth } from './auth.js';
import type { SessionDnsLists } from './dns-lists.js';
import type { MessageReadings } from './message.js';
import type { SessionScore } from './score.js';
import type { RulePhase } from './phases.js';
import type { SourceSpan } from './span.js';

/**
 * What conditions and steps can know about a session at the moment a filter
 * request is evaluated. Built by the runtime from report events plus the
 * request's own parameter (e.g. the recipient under consideration at rcpt-to).
 */
export interface SessionFacts {
  readonly sessionId: string;
  /** Client IP address without port ("192.0.2.7", "2001:db8::1"); "" for the local socket. */
  readonly src: string;
  readonly srcPort: number | null;
  /** Local address the client connected to, without port; "" for the local socket. */
  readonly dest: string;
  readonly destPort: number | null;
  /** True for sessions on smtpd's local enqueue socket. */
  readonly local: boolean;
  /** PTR name; null when smtpd reported `<unknown>`. */
  readonly rdns: string | null;
  /** link-connect's fcrdns field (`pass`, `fail`, `error`); null if not seen. */
  readonly fcrdns: string | null;
  /** HELO/EHLO identity; null before helo. */
  readonly helo: string | null;
  readonly heloMethod: 'HELO' | 'EHLO' | null;
  /** Envelope sender of the current transaction ("" for the null sender); null outside a transaction. */
  readonly mailFrom: string | null;
  /** The recipient being decided on (rcpt-to phase); null elsewhere. */
  readonly rcptTo: string | null;
  /** Recipients accepted so far in the current transaction. */
  readonly recipients: readonly string[];
  /** smtpd's message id for the current transaction, when known. */
  readonly messageId: string | null;
  /** Authenticated user name when link-auth said pass. */
  readonly authUser: string | null;
  /** link-tls string `VERSION:CIPHER:BITS`, when TLS is on. */
  readonly tls: string | null;
  /** Size of the message in bytes, known at commit. */
  readonly size: number | null;
  /** What the DNS-list steps found so far (issue 12); absent where no session keeps one (tools, tests). */
  readonly dnsLists?: SessionDnsLists;
  /**
   * The session's score so far (issue 12): `score` steps and DNS-list weights
   * add to it, the `score` condition reads it. Mutable, like dnsLists. Absent
   * where no session keeps one (tests): 0, and nothing adds.
   */
  readonly score?: SessionScore;
  /** At commit: what the steps that read the message found, by step index (runtime/message-hold.ts); absent when no message was held. */
  readonly messageReadings?: MessageReadings;
  /** What the authentication steps found for the current transaction (issue 14); absent where no session keeps one. */
  readonly auth?: SessionAuth;
}

/** A compiled condition. Pure, synchronous, linear time in its input. */
export type Predicate = (facts: SessionFacts) => boolean;

/** What a step does on an error of its own (policy server down, store failure, deadline). */
export type OnError = 'tempfail' | 'proceed';

/**
 * The compiled actions, one entry per kind: each kind's definition adds its
 * own (module augmentation in steps/<kind>.ts or steps/<kind>/define.ts, where
 * its option types live), so model/ never imports steps/ and StepAction is
 * still an exhaustive union of exactly the catalogued kinds. An entry is the
 * action without its `kind`.
 */
export interface StepActions {}

export type StepKind = keyof StepActions & string;

/** An intersection as one object type, modifiers kept (homomorphic), so hovers and type equality read it plainly. */
type Flat<T> = { [P in keyof T]: T[P] };

type ActionVariant<K extends StepKind> = Flat<{ readonly kind: K } & StepActions[K]>;

export type StepAction = { [K in StepKind]: ActionVariant<K> }[StepKind];

/** The action of one kind: what its definition compiles and its runner, describe and timing read. */
export type ActionOf<K extends StepKind> = Extract<StepAction, { readonly kind: K }>;

/** A compiled step of one kind, as that kind's runner gets it. */
export type StepOf<K extends StepKind> = CompiledStep & { readonly action: ActionOf<K> };

export interface CompiledStep {
  /** Position in its chain, 0-based; stable identity for logs and metrics. */
  readonly index: number;
  readonly action: StepAction;
  /** The step keyword as written: `postgrey` for a step of kind `policy`. */
  readonly name: string;
  /** The action in one line, its kind's describe.text (steps/): `pause 3000ms pregreet log`. Made once, at compile. */
  readonly text: string;
  /** The phase the step runs at (inferred, or moved later by `at PHASE`). */
  readonly phase: RulePhase;
  /** Null when the step has no `when`. */
  readonly when: Predicate | null;
  /** The condition's source text, for logs ("src in trusted"). */
  readonly whenText: string | null;
  /** Span of the whole step (action through condition). */
  readonly span: SourceSpan;
  readonly onError: OnError;
  /**
   * `dry-run`: the step is evaluated and logged as what it "would have" done,
   * but never acts: the chain goes on as if its condition were false, a pause
   * does not wait, headers are not added, and its failures never tempfail.
   * Absent means false.
   */
  readonly dryRun?: boolean;
  /**
   * The fields the condition reads, in order of first use, so a log line can
   * show their values (explain). Empty without `when`; absent when unknown
   * (steps not built by the compiler). Names of conditions/fields.ts rows
   * (FieldName), as strings: model/ sits below conditions/.
   */
  readonly whenFields?: readonly string[];
  /**
   * True when the step may add a header (a policy server's PREPEND,
   * `greylist … header`), which takes smtpd's data-line phase. Decided by the
   * compiler, the one place that rule lives. Absent means false.
   */
  readonly needsDataLine?: boolean;
}

export interface CompiledChain {
  readonly name: string;
  readonly span: SourceSpan;
  readonly steps: readonly CompiledStep[];
  /** The steps of each phase, in chain order. Phases with no step are absent. */
  readonly stepsByPhase: ReadonlyMap<RulePhase, readonly CompiledStep[]>;
}

export interface CompiledRules {
  readonly chains: ReadonlyMap<string, CompiledChain>;
  /** The rules file and every list file it read, absolute paths, for watching. */
  readonly files: readonly string[];
  /** True when some step must see message lines (registering data-line). */
  readonly needsDataLine: boolean;
}

function isOfKind<K extends StepKind>(step: CompiledStep, kind: K): step is StepOf<K> {
  return step.action.kind === kind;
}

/** The steps of `kind` in every chain (or the one named), in chain order: what a kind's service opens or keeps. */
export function stepsOfKind<K extends StepKind>(rules: CompiledRules, kind: K, chain?: string): StepOf<K>[] {
  const out: StepOf<K>[] = [];
  for (const [name, c] of rules.chains) {
    if (chain !== undefined && name !== chain) continue;
    for (const step of c.steps) if (isOfKind(step, kind)) out.push(step);
  }
  return out;
}
