/**
 * A compile result described by what it means, as plain JSON: the safety net
 * of the step-catalogue refactor (issue 11, plan §5). Every stage of it must
 * leave these snapshots byte-identical, so the serialiser reads only the
 * public plan (CompileResult, CompiledRules and the StepAction variants, which
 * the refactor keeps) and never the layout behind it: no AST, no checker, no
 * registry. A file that moves changes the imports below, never the JSON.
 *
 * Per chain: its steps in order, which steps each phase runs, and for every
 * step its kind and action fields, phase, condition text and fields, on-error,
 * dry-run, data-line need, span, the texts logs show of it, and its condition's
 * truth table over fixed sample sessions (the predicate itself, not only its
 * text, is pinned). A refused file is its formatted diagnostics.
 */
import { relative, resolve, sep } from 'node:path';
import { formatDiagnostic, type CompileResult, type Diagnostic } from '../../../src/dsl/index.js';
import type { CompiledChain, CompiledStep, SessionFacts } from '../../../src/model/plan.js';
import type { SourceSpan } from '../../../src/model/span.js';
// The derived texts come from whichever module provides them at the time (model/describe since
// stage 9, reload/diff and runtime/plan before): the JSON they give must not change.
import { describeStep, startupLine } from '../../../src/model/describe.js';
import { mulberry32 } from '../support/prng.js';

/** Bumped only when the JSON's shape changes on purpose (then every snapshot is rewritten). */
export const PLAN_SCHEMA = 1;

/** Phases in the order smtpd asks them; a fixed list here, so byPhase's key order is no implementation detail. */
const PHASE_ORDER: readonly string[] = ['connect', 'helo', 'mail-from', 'rcpt-to', 'data', 'commit'];

export interface StepSnapshot {
  readonly index: number;
  /** The keyword as written: `postgrey` for a policy step of that flavor. */
  readonly name: string;
  /** The action with sorted keys, undefined fields dropped. */
  readonly action: unknown;
  readonly phase: string;
  readonly when: string | null;
  /** Null: the step does not say (not built by the compiler). */
  readonly whenFields: readonly string[] | null;
  readonly onError: string;
  readonly dryRun: boolean;
  readonly needsDataLine: boolean;
  readonly span: string;
  /** The reload diff's text of the step. */
  readonly describe: string;
  /** The step's line in the startup log and in `check`. */
  readonly startup: string;
  /** `when` over the sample sessions, one 0/1 per session in order; null without `when`. */
  readonly truth: string | null;
}

export interface ChainSnapshot {
  readonly name: string;
  readonly span: string;
  /** Indexes of the steps each phase runs, in the order it runs them; phases without steps absent. */
  readonly byPhase: Readonly<Record<string, readonly number[]>>;
  readonly steps: readonly StepSnapshot[];
}

export type CompileSnapshot =
  | {
      readonly ok: true;
      readonly files: readonly string[];
      readonly needsDataLine: boolean;
      readonly warnings: readonly string[];
      readonly chains: readonly ChainSnapshot[];
      /** What compiling says when smtpd did not register data-line, when that differs. */
      readonly withoutDataLine: DiagnosticsSnapshot | null;
    }
  | {
      readonly ok: false;
      readonly files: readonly string[];
      readonly diagnostics: readonly string[];
      readonly withoutDataLine: DiagnosticsSnapshot | null;
    };

export interface DiagnosticsSnapshot {
  readonly ok: boolean;
  readonly diagnostics: readonly string[];
}

/** Compiles one source, told whether data-line is registered (the default of the filter: true). */
export type Compiler = (options: { readonly dataLineRegistered: boolean }) => CompileResult;

export function compileSnapshot(compile: Compiler, sessions: readonly SessionFacts[]): CompileSnapshot {
  const r = compile({ dataLineRegistered: true });
  const unregistered = diagnosticsOf(compile({ dataLineRegistered: false }));
  const mine = diagnosticsOf(r);
  const withoutDataLine = unregistered.ok === mine.ok && sameLines(unregistered.diagnostics, mine.diagnostics) ? null : unregistered;
  const files = r.files.map(shownPath);
  if (!r.ok) return { ok: false, files, diagnostics: mine.diagnostics, withoutDataLine };
  return {
    ok: true,
    files,
    needsDataLine: r.rules.needsDataLine,
    warnings: mine.diagnostics,
    chains: [...r.rules.chains.values()].map((c) => chainSnapshot(c, sessions)),
    withoutDataLine,
  };
}

function diagnosticsOf(r: CompileResult): DiagnosticsSnapshot {
  const list: readonly Diagnostic[] = r.ok ? r.warnings : r.diagnostics;
  return { ok: r.ok, diagnostics: list.map((d) => formatDiagnostic(d, (f) => r.sources.get(f))) };
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function chainSnapshot(chain: CompiledChain, sessions: readonly SessionFacts[]): ChainSnapshot {
  const startup = chain.steps.map(startupLine);
  const steps = chain.steps.map((s, i) => stepSnapshot(s, startup[i] ?? '', sessions));
  const phases = [...chain.stepsByPhase.entries()].sort(([a], [b]) => phaseRank(a) - phaseRank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const byPhase: Record<string, number[]> = {};
  for (const [phase, list] of phases) {
    byPhase[phase] = list.map((s) => {
      // The plan's phase lists should hold the chain's own steps; if they hold copies, a copy that
      // says something else would run unseen, so insist it means the same.
      const own = chain.steps[s.index];
      if (own !== s && (own === undefined || JSON.stringify(stepSnapshot(own, '', sessions)) !== JSON.stringify(stepSnapshot(s, '', sessions)))) {
        throw new Error(`chain ${chain.name}: the ${phase} step #${s.index} is not step #${s.index} of the chain`);
      }
      return s.index;
    });
  }
  return { name: chain.name, span: spanText(chain.span), byPhase, steps };
}

function phaseRank(phase: string): number {
  const i = PHASE_ORDER.indexOf(phase);
  return i < 0 ? PHASE_ORDER.length : i;
}

function stepSnapshot(step: CompiledStep, startup: string, sessions: readonly SessionFacts[]): StepSnapshot {
  const when = step.when;
  const name = step.action.kind === 'policy' ? step.action.options.flavor : step.action.kind;
  // Since stage 8a the compiler sets the name on the step; it must say what the action says. Its
  // text is pinned by `describe`, which is made of it since stage 9.
  if (step.name !== name) throw new Error(`step ${step.index}: name ${step.name}, its action says ${name}`);
  return {
    index: step.index,
    name,
    action: canonical(step.action),
    phase: step.phase,
    when: step.whenText,
    whenFields: step.whenFields === undefined ? null : [...step.whenFields],
    onError: step.onError,
    // Absent means false for both: the snapshot says what the step does, not how that is stored.
    dryRun: step.dryRun === true,
    needsDataLine: step.needsDataLine === true,
    span: spanText(step.span),
    describe: describeStep(step),
    startup,
    truth: when === null ? null : sessions.map((f) => (when(f) ? '1' : '0')).join(''),
  };
}

function spanText(s: SourceSpan): string {
  return `${s.file}:${s.line}:${s.column}-${s.endLine}:${s.endColumn}`;
}

/** Paths under the working directory as given (repository-relative in these tests); others absolute. */
function shownPath(abs: string): string {
  const cwd = resolve('.');
  return abs.startsWith(cwd + sep) ? relative(cwd, abs).split(sep).join('/') : abs;
}

/** A copy with object keys sorted and undefined properties dropped: key order is no meaning. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonical(v);
    }
    return out;
  }
  return value;
}

/**
 * Text of a snapshot as stored: JSON indented by two, but a flat record (an action, a
 * session) or a short list of plain values on one line, so a diff shows what changed
 * and files stay small. Only the layout: the values are the JSON's.
 */
export function snapshotText(value: unknown): string {
  return `${pretty(value, '')}\n`;
}

function pretty(value: unknown, indent: string): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const plain = (v: unknown): boolean => v === null || typeof v !== 'object' || (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object'));
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const line = JSON.stringify(value);
    if (value.every(plain) && line.length <= 120) return line;
    return `[\n${value.map((v) => `${inner}${pretty(v, inner)}`).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  const line = JSON.stringify(value);
  if (indent !== '' && entries.every(([, v]) => plain(v)) && line.length <= 400 && !line.includes('\\n')) return line;
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${pretty(v, inner)}`).join(',\n')}\n${indent}}`;
}

// ---------------------------------------------------------------------------------------------
// Sample sessions

export const SESSION_SEED = 0x11;
export const SESSION_COUNT = 200;

/**
 * Pools that hit the shipped lists and regexes on both sides: trusted, office and
 * other networks (IPv4, IPv6, mapped, the local socket); rDNS missing, empty,
 * dynamic-looking and not; every fcrdns answer; HELO literals, names and the
 * local names; null, empty and listed senders; recipients the examples list.
 * Editing a pool re-draws every session: every truth table changes with it.
 */
const POOLS = {
  src: ['', '127.0.0.1', '127.10.0.5', '::1', '::ffff:127.0.0.1', '192.0.2.7', '192.0.2.250', '198.51.100.23', '203.0.113.9', '10.20.30.40', '172.16.5.4', '2001:db8:10::25', '2001:db8:11::1', '2001:db8::1'],
  rdns: [
    null, '', 'mail.example.org', 'dsl-1-2-3-4.pool.example.net', 'host.dynamic.isp.example', 'ppp123.example.com', 'cable-7.broadband.example',
    'dyn5.example', 'adsl.example', 'dhcp7.example.net', 'mx.partner.example', 'partner.example', 'SMTP.PARTNER.EXAMPLE', 'localhost',
    'mail.dslreports.example', 'pool', 'dialup-9.example',
  ],
  fcrdns: ['pass', 'fail', 'error', null],
  helo: [
    '1.2.3.4', '[192.0.2.1]', '192.0.2.1', '[IPv6:2001:db8::1]', 'mail.example.org', 'localhost', 'localhost.localdomain', 'LOCALHOST',
    'rewrite.me', 'host.localdomain', 'example', '123.45', 'x', 'yy', 'never.example', 'mx.partner.example',
  ],
  mailFrom: [
    '', 'bulk@spam.example', 'BULK@example.com', 'offers@deals.example', 'noreply@phish.example', 'alice@example.org', 'junk@example.net',
    'bulk-mail@example.com', 'user@sub.example.org', 'postmaster@example.com', 'bob@partner.example',
  ],
  rcpt: [
    'postmaster@example.com', 'root@example.com', 'grey@localhost', 'deny@localhost', 'bye@localhost', 'alice@example.org', 'nobody@example.net',
    'MAILER-DAEMON@example.org', 'user@localhost', 'Postmaster@Example.com',
  ],
  authUser: [null, null, null, 'alice'],
  tls: [null, null, 'TLSv1.3:TLS_AES_256_GCM_SHA384:256'],
} as const;

/** How far a session got; what it has not reached yet is null, as the runtime has it. */
const STAGES = ['connect', 'helo', 'mail-from', 'rcpt-to', 'data'] as const;

/** SESSION_COUNT sessions drawn from POOLS by a seeded generator: the same on every run. */
export function sampleSessions(seed = SESSION_SEED, count = SESSION_COUNT): SessionFacts[] {
  const random = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const out: SessionFacts[] = [];
  for (let i = 0; i < count; i++) {
    const stage = STAGES.indexOf(pick(STAGES));
    const src = pick(POOLS.src);
    const local = src === '';
    const srcPort = 1024 + Math.floor(random() * 60000);
    const rdns = pick(POOLS.rdns);
    const fcrdns = pick(POOLS.fcrdns);
    const helo = pick(POOLS.helo);
    const heloMethod = pick(['HELO', 'EHLO'] as const);
    const mailFrom = pick(POOLS.mailFrom);
    const rcptTo = pick(POOLS.rcpt);
    // Accepted before this point: at rcpt-to the earlier recipients, at data all of them.
    const accepted = Array.from({ length: Math.floor(random() * 3) + (stage === 4 ? 1 : 0) }, () => pick(POOLS.rcpt));
    const authUser = pick(POOLS.authUser);
    const tls = pick(POOLS.tls);
    out.push({
      sessionId: (i + 1).toString(16).padStart(16, '0'),
      src,
      srcPort: local ? null : srcPort,
      dest: local ? '' : '192.0.2.1',
      destPort: local ? null : 25,
      local,
      rdns,
      fcrdns,
      helo: stage >= 1 ? helo : null,
      heloMethod: stage >= 1 ? heloMethod : null,
      mailFrom: stage >= 2 ? mailFrom : null,
      rcptTo: stage === 3 ? rcptTo : null,
      recipients: stage >= 3 ? accepted : [],
      messageId: stage >= 2 ? (i + 1).toString(16).padStart(8, '0') : null,
      authUser,
      tls,
      size: null,
    });
  }
  return out;
}
