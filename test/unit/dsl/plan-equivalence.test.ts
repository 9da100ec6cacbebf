/**
 * Plan snapshots: what every rules file we ship, test with or show compiles to
 * stays exactly what test/fixtures/plans/ says (issue 11 plan §5.1–3). The
 * refactor moves the code that compiles rules; these files prove it changed no
 * meaning, far beyond the diagnostics goldens:
 *
 *  - <path>.rules.json for each .rules under rules/, examples/, bench/rules/,
 *    test/fixtures/rules/ and test/fixtures/tools/: the plan (plan-snapshot.ts)
 *    or the formatted diagnostics;
 *  - <doc>.json for the rules examples of grammar/REFERENCE.md, the rules man
 *    page, README.md and the examples/ READMEs, matched by their text (a doc
 *    edit that moves an example is no change);
 *  - mutations.json: 400 mutated rules files, sampled once from the fuzz corpus
 *    and frozen, each with the sha256 of its snapshot: the checker's output over
 *    far more inputs than the goldens;
 *  - keywords.json: the reserved words in order (did-you-mean breaks ties by it);
 *  - sessions.json: the sample sessions behind every `truth` string.
 *
 * After an intended change: UPDATE_PLANS=1 node --test dist/test/unit/dsl/plan-equivalence.test.js
 * and review `git diff test/fixtures/plans` (it rewrites snapshots and digests and
 * removes snapshots without a source; the mutation texts stay frozen: delete
 * mutations.json to sample anew). When a digest differs, PLANS_DUMP=DIR writes every
 * mutation's full snapshot to DIR: run it on the base build and on yours, then diff.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import fc from 'fast-check';
import { compileRulesFile, compileRulesSource } from '../../../src/dsl/index.js';
import { KEYWORDS } from '../../../src/dsl/tokens.js';
import { FUZZ_RULES_FILE, fuzzReadFile, mutatedRules, rulesFilesUnder } from '../../fuzz/rules/corpus.js';
import { docExamples } from './doc-examples.js';
import { projectRoot } from './helpers.js';
import { compileSnapshot, PLAN_SCHEMA, SESSION_COUNT, SESSION_SEED, sampleSessions, snapshotText, type CompileSnapshot } from './plan-snapshot.js';

const update = process.env['UPDATE_PLANS'] === '1';
const dump = process.env['PLANS_DUMP'];
const PLANS = 'test/fixtures/plans';
const RULES_DIRS = ['rules', 'examples', 'bench/rules', 'test/fixtures/rules', 'test/fixtures/tools'];
const MUTATION_SEED = 0x11;
const MUTATION_RUNS = 400;

const sessions = sampleSessions();
const readFromRoot = (p: string): string => readFileSync(isAbsolute(p) ? p : join(projectRoot, p), 'utf8');
/**
 * bench/rules/ holds templates: the benchmarks fill @DIR@ and @REDIS@ before compiling
 * (bench/lib/scenarios/s2-greylist.mjs fillTemplate); so do the snapshots, with fixed values.
 */
const BENCH_VARS: Readonly<Record<string, string>> = { DIR: '/var/tmp/filter-rules-bench', REDIS: 'redis://127.0.0.1:6379/15' };
const fillBench = (text: string): string => text.replace(/@([A-Z]+)@/g, (m, k: string) => BENCH_VARS[k] ?? m);
const rulesFiles = RULES_DIRS.flatMap((d) => rulesFilesUnder(join(projectRoot, d))).map((f) => relative(projectRoot, f).split('\\').join('/'));
const docs = docExamples(projectRoot);
/** Every snapshot file there should be, repository-relative: anything else under PLANS is stale. */
const expected = new Set([
  ...rulesFiles.map((f) => `${PLANS}/${f}.json`),
  ...docs.map((d) => `${PLANS}/${d.doc}.json`),
  ...['mutations', 'keywords', 'sessions'].map((n) => `${PLANS}/${n}.json`),
]);

function stored(rel: string): string | null {
  const p = join(projectRoot, rel);
  return existsSync(p) ? readFileSync(p, 'utf8') : null;
}

function write(rel: string, text: string): void {
  const p = join(projectRoot, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
}

/** Compare a snapshot with its file, or (UPDATE_PLANS=1) write it. */
function matchFile(rel: string, value: unknown): void {
  const actual = snapshotText(value);
  if (update) {
    if (stored(rel) !== actual) write(rel, actual);
    return;
  }
  const before = stored(rel);
  assert.ok(before !== null, `missing ${rel}; run with UPDATE_PLANS=1 to create it`);
  if (before !== actual) {
    // A structural diff says where; the string check below catches what parsing hides (formatting).
    assert.deepEqual(JSON.parse(actual), JSON.parse(before), `${rel} changed; if intended, rerun with UPDATE_PLANS=1 and review the diff`);
    assert.equal(actual, before, `${rel} changed (formatting only); if intended, rerun with UPDATE_PLANS=1`);
  }
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function codesOf(s: CompileSnapshot): string {
  const list = s.ok ? s.warnings : s.diagnostics;
  return list.map((d) => /\[([EW]\d{3})\]/.exec(d)?.[1] ?? '?').join(' ');
}

describe('plan snapshots: rules files', () => {
  test('every shipped and test rules file is covered', () => {
    for (const f of ['rules/default.rules', 'rules/example-antispam.rules', 'examples/submission/antispam.rules', 'bench/rules/realistic.rules', 'test/fixtures/rules/warn/warnings.rules', 'test/fixtures/tools/dry-run.rules']) {
      assert.ok(rulesFiles.includes(f), f);
    }
  });

  for (const rel of rulesFiles) {
    test(rel, () => {
      const template = rel.startsWith('bench/rules/');
      const readFile = template ? (p: string): string => (p === rel ? fillBench(readFromRoot(p)) : readFromRoot(p)) : readFromRoot;
      const snapshot = compileSnapshot(({ dataLineRegistered }) => compileRulesFile(rel, { readFile, dataLineRegistered }), sessions);
      matchFile(`${PLANS}/${rel}.json`, { schema: PLAN_SCHEMA, source: rel, ...(template ? { filled: BENCH_VARS } : {}), ...snapshot });
    });
  }
});

interface DocSnapshot {
  readonly schema: number;
  readonly source: string;
  readonly examples: readonly ({ readonly text: string } & CompileSnapshot)[];
}

describe('plan snapshots: rules examples in the documentation', () => {
  for (const { doc, examples } of docs) {
    test(doc, () => {
      const rel = `${PLANS}/${doc}.json`;
      const texts = [...new Set(examples)];
      const actual: DocSnapshot = {
        schema: PLAN_SCHEMA,
        source: doc,
        examples: texts.map((text) => ({
          text,
          // As the docs tests compile them: alone, named after the doc, list files empty.
          ...compileSnapshot(({ dataLineRegistered }) => compileRulesSource(text, doc, { readFile: () => '', dataLineRegistered }), sessions),
        })),
      };
      if (update || stored(rel) === null) {
        matchFile(rel, actual);
        return;
      }
      // Matched by text, not position: moving an example in its doc changes nothing it means.
      const before = JSON.parse(stored(rel) ?? '') as DocSnapshot;
      const old = new Map(before.examples.map((e) => [e.text, snapshotText(e)]));
      const now = new Map(actual.examples.map((e) => [e.text, snapshotText(e)]));
      const added = [...now.keys()].filter((t) => !old.has(t));
      const removed = [...old.keys()].filter((t) => !now.has(t));
      assert.deepEqual({ added, removed }, { added: [], removed: [] }, `the examples of ${doc} changed; if intended, rerun with UPDATE_PLANS=1`);
      for (const e of actual.examples) {
        const was = old.get(e.text) ?? '';
        if (now.get(e.text) !== was) assert.deepEqual(e, JSON.parse(was), `an example of ${doc} compiles differently; if intended, rerun with UPDATE_PLANS=1`);
      }
    });
  }
});

interface MutationEntry {
  /** The shipped file it was mutated from, for people. */
  readonly from: string;
  readonly text: string;
  readonly ok: boolean;
  readonly codes: string;
  readonly sha256: string;
}

interface MutationCorpus {
  readonly schema: number;
  readonly sampled: string;
  readonly file: string;
  readonly mutations: readonly MutationEntry[];
}

describe('plan snapshots: the frozen mutation corpus', () => {
  test(`${MUTATION_RUNS} mutated rules files: same plan or same diagnostics`, () => {
    const rel = `${PLANS}/mutations.json`;
    const frozen = stored(rel);
    // The texts are sampled once and kept: a rules file added later must not re-draw them.
    const inputs: readonly { readonly from: string; readonly text: string }[] =
      frozen === null
        ? fc.sample(mutatedRules, { seed: MUTATION_SEED, numRuns: MUTATION_RUNS }).map((m) => ({ from: m.seed, text: m.text }))
        : (JSON.parse(frozen) as MutationCorpus).mutations.map(({ from, text }) => ({ from, text }));
    if (dump !== undefined) mkdirSync(dump, { recursive: true });
    const mutations = inputs.map(({ from, text }, i): MutationEntry => {
      const snapshot = compileSnapshot(({ dataLineRegistered }) => compileRulesSource(text, FUZZ_RULES_FILE, { readFile: fuzzReadFile, dataLineRegistered }), sessions);
      const json = snapshotText(snapshot);
      if (dump !== undefined) writeFileSync(join(dump, `mutation-${String(i).padStart(3, '0')}.json`), json);
      return { from, text, ok: snapshot.ok, codes: codesOf(snapshot), sha256: sha256(json) };
    });
    const corpus: MutationCorpus = {
      schema: PLAN_SCHEMA,
      sampled: `fc.sample(mutatedRules, { seed: 0x${MUTATION_SEED.toString(16)}, numRuns: ${MUTATION_RUNS} }), test/fuzz/rules/corpus.ts`,
      file: FUZZ_RULES_FILE,
      mutations,
    };
    if (update || frozen === null) {
      matchFile(rel, corpus);
      return;
    }
    const before = (JSON.parse(frozen) as MutationCorpus).mutations;
    const differ = mutations.flatMap((m, i) => {
      const b = before[i];
      return b !== undefined && b.sha256 === m.sha256 ? [] : [`#${i} (from ${m.from}): was ${b?.ok === true ? 'ok' : 'refused'} [${b?.codes ?? ''}], now ${m.ok ? 'ok' : 'refused'} [${m.codes}]`];
    });
    assert.deepEqual(
      differ,
      [],
      `${differ.length} of ${mutations.length} mutated files compile differently; compare PLANS_DUMP=DIR output of the base build and of yours (e.g. mutation-${/^#(\d+)/.exec(differ[0] ?? '')?.[1]?.padStart(3, '0') ?? '000'}.json), and if intended rerun with UPDATE_PLANS=1`,
    );
    assert.equal(snapshotText(corpus), frozen, `${rel} changed (formatting only); if intended, rerun with UPDATE_PLANS=1`);
  });
});

describe('plan snapshots: reserved words and sample sessions', () => {
  test('keywords.json: the reserved words, in order', () => {
    matchFile(`${PLANS}/keywords.json`, { schema: PLAN_SCHEMA, keywords: KEYWORDS });
  });

  test(`sessions.json: the ${SESSION_COUNT} sample sessions of the truth tables (seed 0x${SESSION_SEED.toString(16)})`, () => {
    matchFile(`${PLANS}/sessions.json`, { schema: PLAN_SCHEMA, seed: SESSION_SEED, sessions });
  });

  test('the samples reach both sides of the shipped conditions', () => {
    // A pool that stopped hitting a list or a pattern would leave truth tables of all 0s or 1s.
    const some = (p: (f: (typeof sessions)[number]) => boolean): number => sessions.filter(p).length;
    assert.ok(some((f) => f.local) > 0 && some((f) => f.src.startsWith('127.')) > 0 && some((f) => f.src.startsWith('192.0.2.')) > 0);
    assert.ok(some((f) => f.src.includes(':')) > 0 && some((f) => f.src.startsWith('2001:db8:10:')) > 0);
    assert.ok(some((f) => f.rdns === null) > 0 && some((f) => f.rdns === '') > 0 && some((f) => /(dsl|dynamic|pool)[.-]/.test(f.rdns ?? '')) > 0);
    assert.ok(some((f) => f.fcrdns === 'pass') > 0 && some((f) => f.fcrdns === null) > 0);
    assert.ok(some((f) => /^\[?[0-9.]+\]?$/.test(f.helo ?? '')) > 0 && some((f) => f.helo === 'localhost') > 0 && some((f) => f.helo === null) > 0);
    assert.ok(some((f) => f.mailFrom === '') > 0 && some((f) => /^bulk@/i.test(f.mailFrom ?? '')) > 0 && some((f) => f.mailFrom === null) > 0);
    assert.ok(some((f) => f.rcptTo !== null) > 0 && some((f) => f.rcptTo === null && f.recipients.length > 0) > 0);
    assert.ok(some((f) => f.mailFrom === '' && (f.rcptTo === 'postmaster@example.com' || f.recipients.includes('postmaster@example.com'))) > 0);
  });
});

describe('plan snapshots: nothing stale', () => {
  test('every file under test/fixtures/plans has a source', () => {
    const all: string[] = [];
    const walk = (dir: string): void => {
      if (!existsSync(dir)) return;
      for (const name of readdirSync(dir).sort()) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else all.push(relative(projectRoot, p).split('\\').join('/'));
      }
    };
    walk(join(projectRoot, PLANS));
    const stale = all.filter((f) => !expected.has(f));
    if (update) {
      for (const f of stale) rmSync(join(projectRoot, f));
      return;
    }
    assert.deepEqual(stale, [], 'snapshots whose source is gone or moved; UPDATE_PLANS=1 removes them');
  });
});
