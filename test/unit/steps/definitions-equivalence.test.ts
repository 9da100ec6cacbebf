/**
 * The step definitions (src/steps/) say what the old code does (issue 11,
 * stages 6a, 6b): nothing reads them yet, so before the pipeline and the runtime
 * switch to them (stages 8a–11), each piece is held to the code it will
 * replace, over every compiled step the plan snapshots pin and over every
 * rules text the tests have:
 *
 *  - describe.text = the snapshots' `describe`, and what the reload diff's
 *    describeAction said of actions they lack (frozen when stage 9 removed it);
 *  - argument and option specs = the checker's range messages (their limits
 *    and defaults, and the options each keyword takes, were held to the old
 *    tables until stage 8b deleted those; the plan snapshots and the mutation
 *    digests pin them since);
 *  - decides = what smtpd's rules are checked against (E040, W005); ends = W007;
 *  - compile = the compiler, from the examples; needsDataLine = the compiler's;
 *  - checks = the checker's E046, W009, W004 and E026, over every rules text;
 *  - describe.outcome = what the test tool says a policy, greylist or spf step answered;
 *  - E042 = the definition's `why` for steps that cannot run at connect;
 *  - timing, dry-run and delaysClient = runtime/plan.ts and the evaluator.
 *
 * Deleted with the old code it compares against (stage 8b and later).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Code } from '../../../src/dsl/codes.js';
import type { Diagnostic } from '../../../src/dsl/diagnostics.js';
import { compileRulesFile, compileRulesSource, type CompileResult } from '../../../src/dsl/index.js';
import { lex } from '../../../src/dsl/lexer.js';
import { parse } from '../../../src/dsl/parse.js';
import { SourceText } from '../../../src/dsl/source.js';
import { toAst } from '../../../src/dsl/to-ast.js';
import { RULE_PHASES, isEarlier, type RulePhase } from '../../../src/model/phases.js';
import type { CompiledStep, StepAction } from '../../../src/model/plan.js';
import type { StepDetail } from '../../../src/model/runner.js';
import { decisionAt, SMTPD_RULES, type SmtpdRuleId } from '../../../src/protocol/smtpd-rules.js';
import { AbortScope } from '../../../src/runtime/abort-scope.js';
import { evaluate } from '../../../src/runtime/evaluator.js';
import { buildPlan, DEFAULT_TIMINGS, type PlanTimings } from '../../../src/runtime/plan.js';
import { kindOf, KINDS, STEPS } from '../../../src/steps/catalogue.js';
import { pauseKind, PREGREET_DEFAULT_REPLY } from '../../../src/steps/pause/define.js';
import type { StepDefinition, ValueSpec } from '../../../src/steps/spec.js';
import { FakeClock } from '../../../src/support/clock.js';
import { silentLogger } from '../../../src/support/log.js';
import { formatDuration } from '../../../src/support/units.js';
import { printable } from '../../../src/tools/text.js';
import { FUZZ_RULES_FILE, fuzzReadFile, rulesFilesUnder } from '../../fuzz/rules/corpus.js';
import { docExamples } from '../dsl/doc-examples.js';
import { memoryFiles, projectRoot } from '../dsl/helpers.js';
import { chain, facts, rules, testServices } from '../runtime/helpers.js';
import { EXAMPLE_KEY, exampleInput, exampleSource, runChecks, viewOf } from './helpers.js';

const DEFINITIONS: readonly StepDefinition[] = STEPS;
const PLANS = join(projectRoot, 'test/fixtures/plans');

const textOf = (action: StepAction): string => kindOf(action.kind).describe.text(action);

/** Every file under `dir`, repository-relative. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

interface SnapshotStep {
  readonly action: StepAction;
  readonly phase: string;
  readonly when: string | null;
  readonly onError: string;
  readonly dryRun: boolean;
  readonly describe: string;
}

/** The compiled steps of every plan snapshot (rules files and documentation examples). */
function snapshotSteps(): SnapshotStep[] {
  const out: SnapshotStep[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) for (const v of value) walk(v);
    else if (value !== null && typeof value === 'object') {
      if ('action' in value && 'describe' in value && 'phase' in value) out.push(value as SnapshotStep);
      else for (const v of Object.values(value)) walk(v);
    }
  };
  for (const file of filesUnder(PLANS)) {
    if (!file.endsWith('.json') || /\/(mutations|keywords|sessions)\.json$/.test(file)) continue;
    walk(JSON.parse(readFileSync(file, 'utf8')));
  }
  return out;
}

/** JSON with sorted keys and undefined dropped, as the snapshots store actions. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const noFiles = memoryFiles({});
/** The examples' key file (a dkim-sign step's `key "dkim/example.key"`), relative to test.rules. */
const exampleFiles = memoryFiles({ 'dkim/example.key': EXAMPLE_KEY });
const compileText = (text: string): CompileResult => compileRulesSource(text, 'test.rules', { readFile: exampleFiles });
const diagnosticsOf = (r: CompileResult): readonly Diagnostic[] => (r.ok ? r.warnings : r.diagnostics);

/** Option sets a definition is compiled with: none, each alone, all together. */
function optionSets(d: StepDefinition): string[][] {
  const names = Object.keys(d.options);
  return [[], ...names.map((n) => [n]), ...(names.length > 1 ? [names] : [])];
}

/** Actions the snapshots have none of: every option of every kind shown, off its default. */
const HAND_BUILT: readonly StepAction[] = [
  { kind: 'pause', durationMs: 0 },
  { kind: 'pause', durationMs: 1500, pregreet: { action: 'log', reply: PREGREET_DEFAULT_REPLY } },
  { kind: 'pause', durationMs: 6000, pregreet: { action: 'disconnect', reply: '421 4.7.0 "quoted"\ttab' }, payOnceMs: 86_400_000 },
  { kind: 'pause', durationMs: 3000, payOnceMs: 1000 },
  { kind: 'reject', reply: '550 5.7.1 ünïcode' },
  { kind: 'disconnect', reply: '421 4.7.0 bye' },
  { kind: 'policy', options: { flavor: 'policy', address: { kind: 'tcp', host: '::1', port: 10040 }, timeoutMs: 7500 } },
  { kind: 'policy', options: { flavor: 'postgrey', address: { kind: 'unix', path: '/run/postgrey "q".sock' }, timeoutMs: 2000 } },
  {
    kind: 'greylist',
    options: { delayMs: 60_000, maxAgeMs: 86_400_000, retryWindowMs: 3_600_000, autoWhitelistAfter: 0, ipv4Prefix: 32, ipv6Prefix: 48, store: 'redis://127.0.0.1:6379/2', header: true },
  },
  {
    kind: 'greylist',
    options: { delayMs: 300_000, maxAgeMs: 35 * 86_400_000, retryWindowMs: 2 * 86_400_000, autoWhitelistAfter: 5, ipv4Prefix: 24, ipv6Prefix: 64, store: 'sqlite:/var/lib/filter-rules/greylist.db', header: false },
  },
];

/**
 * What the reload diff's describeAction said of each HAND_BUILT action, frozen when stage 9 replaced
 * it with describe.text (the snapshots' `describe` pins the compiled steps).
 */
const HAND_BUILT_TEXTS: readonly string[] = [
  'pause 0ms',
  'pause 1500ms pregreet log',
  'pause 6000ms pregreet disconnect "421 4.7.0 \\"quoted\\"\\ttab" pay-once 86400000ms',
  'pause 3000ms pay-once 1000ms',
  'reject "550 5.7.1 ünïcode"',
  'disconnect "421 4.7.0 bye"',
  'policy tcp:[::1]:10040 timeout 7500ms',
  'postgrey unix:/run/postgrey "q".sock',
  'greylist delay 60000ms retry-window 3600000ms max-age 86400000ms auto-whitelist 0 ipv4-prefix 32 ipv6-prefix 48 store "redis://127.0.0.1:6379/2" header',
  'greylist delay 300000ms',
];

describe('describe.text', () => {
  const steps = snapshotSteps();

  test('is the snapshot text of every compiled step, and the old reload diff text of each hand-built action', () => {
    const seen = new Map<string, number>();
    for (const s of steps) {
      seen.set(s.action.kind, (seen.get(s.action.kind) ?? 0) + 1);
      const text = textOf(s.action);
      // The snapshot's own text, as stored: the definition agrees with the frozen output, not only with today's code.
      const when = s.when === null ? '' : ` when ${s.when}`;
      const onError = s.onError === 'proceed' ? ' on-error proceed' : '';
      assert.equal(`${s.dryRun ? 'dry-run ' : ''}${text} @${s.phase}${when}${onError}`, s.describe);
    }
    assert.deepEqual([...seen.keys()].sort(), Object.keys(KINDS).sort(), 'the snapshots hold a step of every catalogued kind');
    assert.equal(HAND_BUILT_TEXTS.length, HAND_BUILT.length);
    HAND_BUILT.forEach((a, i) => assert.equal(textOf(a), HAND_BUILT_TEXTS[i], canonical(a)));
  });

  test('notRun is what the test tool prints for a pause it does not wait for', () => {
    const golden = readFileSync(join(projectRoot, 'test/golden/tools/test-default-no-rdns.txt'), 'utf8');
    const text = pauseKind.describe.notRun?.({ kind: 'pause', durationMs: 3000 });
    assert.equal(text, 'pause 3s (not waited)');
    assert.ok(golden.includes(` ${text}`), 'the tool golden shows the same text');
  });
});

describe('describe.outcome', () => {
  /** What tools/test/simulate.ts runText says after the step's name for a run that answered (its `said`). */
  const runTextSaid = (type: string, detail: StepDetail): string =>
    typeof detail.answer === 'string'
      ? ` answered ${printable(detail.answer)}`
      : typeof detail.greylist === 'string'
        ? `: ${detail.greylist}`
        : typeof detail.spf === 'string'
          ? `: ${detail.spf}${typeof detail['spf-helo'] === 'string' ? `, helo ${detail['spf-helo']}` : ''}`
          : ` ${type}`;

  /** The details the runners give: a policy server's answer (steps/policy/run.ts), the store's verdict (steps/greylist/run.ts). */
  const RUNS: ReadonlyArray<{ kind: 'policy' | 'greylist' | 'spf'; type: string; detail: StepDetail }> = [
    { kind: 'spf', type: 'continue', detail: { spf: 'fail', domain: 'example.com', lookups: 1 } },
    { kind: 'spf', type: 'continue', detail: { spf: 'pass', domain: 'example.com', lookups: 0, 'spf-helo': 'softfail', 'helo-domain': 'mx.example.com' } },
    { kind: 'spf', type: 'continue', detail: { spf: 'skipped' } },
    { kind: 'policy', type: 'continue', detail: { policyServer: 'unix:/run/postgrey.sock', answer: 'DUNNO', latencyMs: 3 } },
    { kind: 'policy', type: 'decide', detail: { policyServer: 'tcp:127.0.0.1:10040', answer: 'REJECT no\r\nthanks', latencyMs: 1 } },
    { kind: 'policy', type: 'continue', detail: {} },
    { kind: 'greylist', type: 'decide', detail: { greylist: 'greylisted', store: 'sqlite:/x.db' } },
    { kind: 'greylist', type: 'continue', detail: { greylist: 'skipped', reason: 'local session' } },
    { kind: 'greylist', type: 'continue', detail: { greylist: 'pass' } },
  ];

  test("is the test tool's text for what the step answered (made printable by the tool), or null for the outcome's type", () => {
    for (const { kind, type, detail } of RUNS) {
      const said = KINDS[kind].describe.outcome?.(detail) ?? null;
      assert.equal(said === null ? ` ${type}` : printable(said), runTextSaid(type, detail), `${kind} ${JSON.stringify(detail)}`);
    }
    // The kinds without an outcome of their own show the outcome's type.
    for (const k of Object.values(KINDS)) if (k.kind !== 'policy' && k.kind !== 'greylist' && k.kind !== 'spf') assert.equal(k.describe.outcome, undefined, k.kind);
  });
});

describe('argument and option specs', () => {
  /** The checker's range message for a value outside `spec`, as E021/E023 word it (dsl/values.ts). */
  function rangeMessage(spec: ValueSpec, text: string): { code: Code; message: string; hint?: string } {
    const min = spec.min ?? 0;
    const max = spec.max ?? Number.MAX_SAFE_INTEGER;
    if (spec.type === 'duration') {
      const range = min <= 1 ? `more than 0 and at most ${formatDuration(max)}` : `from ${formatDuration(min)} to ${formatDuration(max)}`;
      return { code: 'E021', message: `${spec.what} must be ${range}, not ${text}`, ...(spec.why === undefined ? {} : { hint: spec.why }) };
    }
    return { code: 'E023', message: `${spec.what} must be from ${min} to ${max}, not ${text}` };
  }

  const written = (spec: ValueSpec, n: number): string => (spec.type === 'duration' ? `${n}ms` : String(n));

  for (const d of DEFINITIONS) {
    const ranged: Array<{ where: string; spec: ValueSpec; source: (value: string) => string }> = [];
    if (d.argument !== null) ranged.push({ where: 'argument', spec: d.argument, source: (v) => `chain c = ${d.keyword} ${v}` });
    for (const [name, spec] of Object.entries(d.options)) {
      ranged.push({ where: name, spec, source: (v) => `chain c = ${exampleSource(d, [])} ${name} ${v}` });
    }
    for (const { where, spec, source } of ranged.filter((r) => r.spec.min !== undefined || r.spec.max !== undefined)) {
      test(`${d.keyword} ${where}: the checker takes min and max and refuses one past either, with the spec's what and why`, () => {
        const rangeCodes = (text: string): Diagnostic[] => diagnosticsOf(compileText(source(text))).filter((x) => x.code === 'E021' || x.code === 'E023');
        for (const inside of [spec.min, spec.max]) {
          if (inside !== undefined) assert.deepEqual(rangeCodes(written(spec, inside)), [], `${where} ${inside} is in range`);
        }
        for (const outside of [spec.min === undefined ? undefined : spec.min - 1, spec.max === undefined ? undefined : spec.max + 1]) {
          if (outside === undefined || outside < 0) continue;
          const text = written(spec, outside);
          const [found, ...more] = rangeCodes(text);
          assert.deepEqual(more, []);
          const expected = rangeMessage(spec, text);
          assert.deepEqual({ code: found?.code, message: found?.message, hint: found?.hint }, { hint: undefined, ...expected }, `${where} ${text}`);
        }
      });
    }
  }

  test('a choice takes a reply after exactly the words that say so (the grammar: `pregreet log "…"` is a syntax error)', () => {
    let seen = 0;
    for (const d of DEFINITIONS) {
      for (const [name, spec] of Object.entries(d.options)) {
        for (const c of spec.choices ?? []) {
          const codes = diagnosticsOf(compileText(`chain c = ${exampleSource(d, [])} ${name} ${c.word} "550 5.7.1 no"`)).map((x) => x.code);
          assert.equal(!codes.includes('E004'), c.reply, `${d.keyword} ${name} ${c.word} "…": ${codes.join(' ')}`);
          seen++;
        }
      }
    }
    assert.ok(seen >= 2);
  });

  test('each option spec is filed under its own name', () => {
    for (const d of DEFINITIONS) {
      for (const [name, spec] of Object.entries(d.options)) assert.equal(spec.name, name, `${d.keyword}: the spec under ${name} is named ${spec.name}`);
    }
  });
});

describe('placement and effects', () => {
  test("a step that cannot run at connect says why: the checker's E042 gives the definition's `why`", () => {
    for (const d of DEFINITIONS) {
      const late = d.phases.earliest !== 'connect';
      assert.equal(d.phases.why !== undefined, late, `${d.keyword}: a why exactly for the steps that cannot run at connect`);
      if (!late) continue;
      const e042 = diagnosticsOf(compileText(`chain c = ${exampleSource(d, [])} at connect`)).filter((x) => x.code === 'E042');
      assert.equal(e042.length, 1, d.keyword);
      assert.match(e042[0]?.message ?? '', new RegExp(`^\`${d.keyword}\` cannot run at connect: ${d.phases.why}, known from the ${d.phases.earliest} phase on$`), d.keyword);
    }
  });

  /** What the checker says when a step's decision meets each of smtpd's rules (exhaustive: a new rule needs its code here). */
  const RULE_CODE: { readonly [Id in SmtpdRuleId]: Code } = { 'reject-at-connect': 'W005', 'junk-at-commit': 'E040' };

  test("decides is what the checker holds to smtpd's rules: each rule's diagnostic exactly for the steps that take its decision", () => {
    for (const d of DEFINITIONS) {
      // A step that cannot run at a rule's phase gets E042 there, never the rule's code.
      for (const rule of SMTPD_RULES.filter((r) => !isEarlier(r.phase, d.phases.earliest))) {
        const codes = diagnosticsOf(compileText(`chain c = ${exampleSource(d, [])} at ${rule.phase}`)).map((x) => x.code);
        assert.equal(codes.includes(RULE_CODE[rule.id]), d.decides.includes(rule.decision), `${d.keyword} at ${rule.phase}: ${codes.join(' ')}`);
      }
    }
  });

  test('ends is what the checker takes to end the chain (W007 for the step after an unconditional one)', () => {
    for (const d of DEFINITIONS) {
      const w007 = diagnosticsOf(compileText(`chain c = ${exampleSource(d, [])}\n  then pause 1s`)).filter((x) => x.code === 'W007');
      if (d.ends === null) {
        assert.deepEqual(w007, [], d.keyword);
        continue;
      }
      // Past connect smtpd takes every decision as sent: the W007 names `ends` itself.
      const past = isEarlier(d.phases.earliest, 'helo') ? 'helo' : d.phases.earliest;
      const later = diagnosticsOf(compileText(`chain c = ${exampleSource(d, [])} at ${past}\n  then pause 1s at ${past}`)).filter((x) => x.code === 'W007');
      assert.match(later[0]?.message ?? '', new RegExp(`the unconditional ${d.ends} at ${past} ends the chain first`), d.keyword);
      // A step that cannot run at connect meets the pause in no phase there.
      if (d.phases.earliest !== 'connect') continue;
      assert.equal(w007.length, 1, d.keyword);
      // What ends the chain is what smtpd makes of it: a reject at connect is a disconnect.
      const ended = d.ends === 'accept' ? d.ends : decisionAt(d.ends, 'connect');
      assert.match(w007[0]?.message ?? '', new RegExp(`the unconditional ${ended} at connect ends the chain first`), d.keyword);
    }
  });
});

describe('compile', () => {
  /** Each definition's examples at every phase it may run at, with what the compiler made of them. */
  const compiled: Array<{ d: StepDefinition; names: string[]; step: CompiledStep }> = [];
  for (const d of DEFINITIONS) {
    for (const names of optionSets(d)) {
      for (const phase of RULE_PHASES.filter((p) => !isEarlier(p, d.phases.earliest))) {
        const at = phase === d.phases.default ? '' : ` at ${phase}`;
        const r = compileText(`chain c = ${exampleSource(d, names)}${at}`);
        if (!r.ok) {
          // Refused only where the definition says so (its checks: pregreet past connect) or smtpd's rules do (junk at commit).
          const allowed = new Set<string>([...d.codes, 'E040']);
          assert.deepEqual(r.diagnostics.filter((x) => x.severity === 'error' && !allowed.has(x.code)), [], `${d.keyword} ${names.join(' ')} at ${phase}`);
          continue;
        }
        const [c] = r.rules.chains.values();
        const step = c?.steps[0];
        assert.ok(step !== undefined);
        compiled.push({ d, names, step });
      }
    }
  }

  test('the examples compile through the definition to exactly what the compiler makes of them', () => {
    const phases = new Map<string, Set<string>>();
    for (const { d, names, step } of compiled) {
      const action = d.compile(exampleInput(d, names, step.phase));
      assert.equal(canonical(action), canonical(step.action), `${d.keyword} ${names.join(' ')} at ${step.phase}`);
      assert.ok((d.compiles as readonly string[]).includes(action.kind), `${d.keyword} compiled to ${action.kind}, not in its compiles`);
      phases.set(d.keyword, (phases.get(d.keyword) ?? new Set()).add(step.phase));
    }
    // A step that needs the whole message (rspamd) runs at commit only, the last phase.
    for (const d of DEFINITIONS) assert.ok((phases.get(d.keyword)?.size ?? 0) >= (d.phases.earliest === 'commit' ? 1 : 2), `${d.keyword} compiled at more than one phase`);
    // reject at connect is a disconnect, and a reject later.
    const rejects = new Set(compiled.filter((c) => c.d.keyword === 'reject').map((c) => `${c.step.phase}:${c.step.action.kind}`));
    assert.ok(rejects.has('connect:disconnect') && rejects.has('helo:reject') && !rejects.has('connect:reject'), [...rejects].join(' '));
  });

  test('needsDataLine says what the compiler says, and a dry-run step never needs data-line', () => {
    for (const { d, names, step } of compiled) {
      assert.equal(d.needsDataLine(new Set(names)), step.needsDataLine === true, `${d.keyword} ${names.join(' ')}`);
      const dry = compileText(`chain c = dry-run ${exampleSource(d, names)}`);
      if (dry.ok) assert.equal([...dry.rules.chains.values()][0]?.steps[0]?.needsDataLine, false);
    }
  });

  test('describe.text of every compiled example is the text the compiler put on the step', () => {
    for (const { step } of compiled) assert.equal(step.text, textOf(step.action));
  });
});

describe("checks: the checker's E046, W009, W004 and E026, over every rules text the tests have", () => {
  const sources: Array<{ name: string; text: string; file: string; readFile: (p: string) => string }> = [];
  const readFromRoot = (p: string): string => readFileSync(p.startsWith('/') ? p : join(projectRoot, p), 'utf8');
  for (const dir of ['rules', 'examples', 'bench/rules', 'test/fixtures/rules', 'test/fixtures/tools']) {
    for (const f of rulesFilesUnder(join(projectRoot, dir))) {
      const rel = relative(projectRoot, f);
      sources.push({ name: rel, text: readFromRoot(rel), file: rel, readFile: readFromRoot });
    }
  }
  for (const { doc, examples } of docExamples(projectRoot)) examples.forEach((text, i) => sources.push({ name: `${doc} #${i}`, text, file: doc, readFile: () => '' }));
  const corpus = JSON.parse(readFileSync(join(PLANS, 'mutations.json'), 'utf8')) as { mutations: { text: string }[] };
  corpus.mutations.forEach((m, i) => sources.push({ name: `mutation #${i}`, text: m.text, file: FUZZ_RULES_FILE, readFile: fuzzReadFile }));
  // Each case at least once, whatever the corpus holds: both sides of every condition of the three checks.
  const own = [
    'chain smtps-in = pause 3s pregreet log\n  then pause 2s pregreet disconnect pregreet log pay-once 1d',
    'chain mx_465 = pause 3s pregreet disconnect "554 go away" at helo\n  then pause 1s pregreet log when helo ~ /x/',
    'chain submissions = pause 3s when mail-from ~ /x/ pregreet log at helo pregreet log',
    'chain smtpsx = pause 3s pregreet log at connect\n  then accept pregreet log at helo',
    'chain main = reject "421 4.7.0 busy"\n  then reject "421 x\\n" at helo\n  then disconnect "421 4.7.0 bye"\n  then reject "4210 no" at mail-from',
    'chain smtps = junk pregreet log',
    // E026: the delay as written, the default delay against a short window (at the step), equal sides, the last of repeats, values with their own errors.
    'chain g = greylist retry-window 2m delay 5m\n  then greylist retry-window 4m\n  then greylist delay 1d retry-window 1d header',
    'chain g = greylist delay 10m retry-window 1h delay 2h\n  then greylist delay 2h delay 10m retry-window 1h\n  then greylist delay 0s retry-window 1m',
    'chain g = greylist delay 1h retry-window 59s\n  then greylist retry-window 1h retry-window 2m\n  then postgrey unix:/run/p.sock delay 1d retry-window 1m',
    // W020: a key-like first label without `as`; with it; a long label without digits; a two-label zone.
    // E088-E091: counts at the wrong phase, rates of the wrong form, key parts not yet known, a 5xx reply; and their right forms.
    'chain l = limit "10" count sessions\n  then limit "30" count recipients\n  then limit "30/1h" per "sender" at connect\n  then limit "30/1h" exceeded reject "550 5.7.1 no"\n  then limit "30/1h" count bytes',
    'chain l = limit "10" count sessions at connect\n  then limit "30/1h" burst 99000000 at connect\n  then limit "1/300d" burst 98000000\n  then limit "30/1h" exceeded reject "451 4.7.1 wait" per "sender+recipient"\n  then limit "1/1h" count bytes at commit\n  then limit "1/1h" per "auth-user" count recipients',
    'chain l = limit "30/1h" count sessions at connect exceeded disconnect "550 no"\n  then limit "5" at mail-from per "helo" count messages\n  then limit "5/1m" at rcpt-to per "recipient-domain" exceeded disconnect\n  then limit "2/1d" burst 90000000\n  then limit "1/1m" per "src+helo" at connect\n  then limit "9/1d" per "recipient-domain" count messages at commit',
    'chain d = dnsbl "abcdefghij0123456789.zen.dq.spamhaus.net=127.0.0.[2..11]"\n  then dnsbl "abcdefghij0123456789.zen.dq.spamhaus.net" as "zen"\n  then dnsbl "abcdefghijklmnopqrst.zen.example"\n  then dnsbl "abcdefghij0123456789.example"\n  then dnsbl "k0123456789abcdefghij.dbl.dq.spamhaus.net" at helo',
    // E077: score-header at commit, written or moved there by its condition; at data and rcpt-to it is fine.
    // E078: a name looked up before smtpd told it; at or after its phase it is fine.
    'chain d = dnsbl "dbl.example" lookup helo\n  then dnsbl "dbl.example" lookup mail-from at helo\n  then dnsbl "dbl.example" lookup helo at helo\n  then dnsbl "dbl.example" lookup rdns\n  then dnsbl "dbl.example" lookup mail-from when mail-from ~ /x/',
    // E106: a dkim-sign step without its domain, selector or key (a missing key file is E110, the pipeline's, not a check's).
    'chain k = dkim-sign domain "example.org" selector "s"\n  then dkim-sign key "x.key"\n  then dkim-sign domain "example.org" selector "s" key "x.key"',
    'chain h = score-header at commit\n  then score-header at commit when rcpt-to ~ /x/\n  then score-header at rcpt-to\n  then dry-run score-header at commit',
  ];
  own.forEach((text, i) => sources.push({ name: `own #${i}`, text, file: 'test.rules', readFile: noFiles }));

  const CHECKED = new Set(DEFINITIONS.flatMap((d) => d.codes));

  test('every definition check reports exactly what the checker reports for the steps the definition takes', () => {
    const compared = new Map<string, number>();
    const foreign: string[] = [];
    let parsed = 0;
    for (const s of sources) {
      const source = new SourceText(s.file, s.text.startsWith('\uFEFF') ? s.text.slice(1) : s.text);
      const lexed = lex(source);
      const cst = parse(lexed.tokens, source);
      if ([...lexed.diagnostics, ...cst.diagnostics].some((x) => x.severity === 'error')) continue;
      parsed++;
      const ast = toAst(cst.cst, source).ast;
      const r = compileRulesSource(s.text, s.file, { readFile: s.readFile });
      const old = diagnosticsOf(r).filter((x) => CHECKED.has(x.code));
      const mine: Diagnostic[] = [];
      const takers = new Set<string>();
      for (const c of ast.chains) {
        for (const step of c.steps) {
          const d = DEFINITIONS.find((x) => x.keyword === step.action.kind);
          if (d === undefined) continue;
          mine.push(...runChecks(d, viewOf(c, step, d)));
          for (const o of step.options) if (Object.hasOwn(d.options, o.kind)) takers.add(spanKey(o.keywordSpan));
        }
      }
      // The checker also says E046/W009 of a `pregreet` written on a step that does not take it (besides its E043);
      // the definitions see only the options their step takes. Kept by stage 8b (dsl/check/steps.ts checkForeign runs the
      // pause's checks over them); listed here, as the one difference from a definition's own view.
      // W004, E026, W020, E077, E078, E088-E091 and E106 are their own step's, at its reply, its delay, its list, its placement, its lookup, its count, key or rate, its keyword: no option another step could be written with.
      const kept = old.filter((x) => x.code === 'W004' || x.code === 'E026' || x.code === 'W020' || x.code === 'E077' || x.code === 'E078' || x.code === 'E106' || x.code.startsWith('E08') || x.code.startsWith('E09') || takers.has(spanKey(x.span)));
      for (const x of old) if (!kept.includes(x)) foreign.push(`${s.name}: ${x.code}`);
      assert.deepEqual(sorted(mine), sorted(kept), s.name);
      for (const x of kept) compared.set(x.code, (compared.get(x.code) ?? 0) + 1);
    }
    assert.ok(parsed > 200, `${parsed} texts parsed`);
    for (const code of CHECKED) assert.ok((compared.get(code) ?? 0) >= 2, `${code} compared ${compared.get(code) ?? 0} times`);
    // Only the own cases above (`accept pregreet log at helo`, `junk pregreet log` in an smtps chain): none in the shipped files or the corpus.
    assert.deepEqual(foreign, ['own #3: E046', 'own #5: W009']);
  });
});

describe('timing, dry-run and the client delay: what runtime/plan.ts and the evaluator do', () => {
  const timings: PlanTimings = DEFAULT_TIMINGS;

  /** The deadline the KindDefinition gives (plan §2.7): null for sync, not-async and skipped dry-run steps. */
  function deadlineOf(step: CompiledStep): number | null {
    const kind = kindOf(step.action.kind);
    const t = kind.timing;
    if (t.mode === 'sync') return null;
    if (step.dryRun === true && kind.dryRun !== 'run') return null;
    if (t.isAsync !== undefined && !t.isAsync(step.action)) return null;
    return (t.deadlineMs === 'default' ? timings.defaultAsyncStepMs : t.deadlineMs(step.action)) + timings.stepMarginMs;
  }

  /** The compiled steps of every shipped and test rules file, and hand-built ones (a zero pause, dry-runs). */
  function steps(): CompiledStep[] {
    const out: CompiledStep[] = [];
    for (const dir of ['rules', 'examples', 'test/fixtures/rules', 'test/fixtures/tools']) {
      for (const f of rulesFilesUnder(join(projectRoot, dir))) {
        const r = compileRulesFile(f);
        if (r.ok) for (const c of r.rules.chains.values()) out.push(...c.steps);
      }
    }
    const built = chain(
      'hand',
      HAND_BUILT.flatMap((action) => [
        { action, phase: 'connect' as RulePhase },
        { action, phase: 'helo' as RulePhase, dryRun: true },
      ]),
    );
    return [...out, ...built.steps];
  }

  test('deadline, self-timing and delaysClient of every step', () => {
    const seen = new Set<string>();
    for (const step of steps()) {
      const alone = chain('one', [{ action: step.action, phase: step.phase, ...(step.dryRun === true ? { dryRun: true } : {}) }]);
      const plan = buildPlan(rules([alone]), null, 1, { log: silentLogger, services: testServices(), timings });
      assert.ok(plan.ok);
      const phase = plan.value.phases.get(step.phase);
      const planned = phase?.steps[0];
      assert.ok(phase !== undefined && planned !== undefined);
      const kind = kindOf(step.action.kind);
      const typed = { ...step, action: step.action };
      const what = `${canonical(step.action)}${step.dryRun === true ? ' dry-run' : ''}`;
      assert.equal(planned.deadlineMs, deadlineOf(typed), what);
      assert.equal(planned.selfTimed, kind.timing.mode === 'async' && kind.timing.selfTimed, what);
      assert.equal(phase.delaysClient, kind.delaysClient, what);
      assert.equal(planned.delaysClient, kind.delaysClient, what);
      seen.add(`${step.action.kind}${planned.deadlineMs === null ? '' : ' async'}${step.dryRun === true ? ' dry' : ''}`);
    }
    for (const k of ['pause async', 'pause', 'pause dry', 'accept', 'reject', 'disconnect', 'junk', 'policy async', 'policy async dry', 'greylist async', 'greylist async dry']) assert.ok(seen.has(k), k);
  });

  test("a dry-run step is skipped where the kind says so, noted with the kind's detail", () => {
    for (const action of HAND_BUILT) {
      const kind = kindOf(action.kind);
      if (kind.dryRun === 'run') continue;
      const plan = buildPlan(rules([chain('dry', [{ action, phase: 'connect', dryRun: true }])]), null, 1, { log: silentLogger, services: testServices(), timings });
      assert.ok(plan.ok);
      const e = evaluate({ steps: plan.value.phases.get('connect')?.steps ?? [], facts: facts(), phase: 'connect', request: 'connect', clock: new FakeClock(), abort: AbortScope.create() });
      assert.ok(!(e instanceof Promise), 'a skipped step answers at once');
      const [hit] = e.dryRuns;
      assert.deepEqual({ would: hit?.would, detail: hit?.detail }, kind.dryRun.skip(action));
    }
  });

  test('watchesEarlyTalk: a pause with pregreet, and nothing else', () => {
    for (const a of HAND_BUILT) assert.equal(kindOf(a.kind).watchesEarlyTalk?.(a) ?? false, a.kind === 'pause' && a.pregreet !== undefined, canonical(a));
  });
});

function spanKey(s: { line: number; column: number; file: string }): string {
  return `${s.file}:${s.line}:${s.column}`;
}

function sorted(list: readonly Diagnostic[]): string[] {
  return list.map((d) => canonical(d)).sort();
}
