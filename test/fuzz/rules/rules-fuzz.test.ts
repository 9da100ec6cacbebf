/**
 * Hostile rules files (issue 6): every rules file the project ships or tests
 * with, mutated (characters and language pieces inserted and deleted, lines
 * swapped, files cut short as a half-written save would be), compiled.
 *
 *  - compiling never throws, whatever the text or the list files hold;
 *  - every diagnostic, and every related span, points inside the file it
 *    names (the rules file or a list file), and formats;
 *  - hot-reloading any of them into a running filter either applies rules that
 *    compiled, or leaves the running rules exactly as they were: same
 *    generation, same answers to the same session (the reloader with a fake
 *    watcher and clock, applying through host.swapRules as app.ts does).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { compileRulesFile, compileRulesSource, formatDiagnostic, type CompileResult, type Diagnostic } from '../../../src/dsl/index.js';
import type { SourceSpan } from '../../../src/model/span.js';
import { startReloader } from '../../../src/reload/index.js';
import type { Watcher } from '../../../src/reload/watcher.js';
import { FilterHost } from '../../../src/runtime/host.js';
import { selectChain } from '../../../src/model/select-chain.js';
import { FakeClock } from '../../../src/support/clock.js';
import { HANDSHAKE_68 } from '../protocol/corpus.js';
import { CountingLogger, fuzzServices, settle } from '../protocol/harness.js';
import { FUZZ_LIST_FILES, FUZZ_RULES_FILE as RULES_FILE, fuzzReadFile as readFile, mutatedRules, seeds, TOKENS } from './corpus.js';

const SCALE = Number(process.env['FUZZ_RUNS'] ?? '1');
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));


function lines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

function assertInside(span: SourceSpan, sources: ReadonlyMap<string, string>, what: string): void {
  const text = sources.get(span.file);
  assert.ok(text !== undefined, `${what}: names ${span.file}, which was not read`);
  const ls = lines(text);
  assert.ok(Number.isInteger(span.line) && span.line >= 1 && span.line <= ls.length, `${what}: line ${span.line} of ${ls.length}`);
  const len = (ls[span.line - 1] ?? '').length;
  assert.ok(Number.isInteger(span.column) && span.column >= 1 && span.column <= len + 1, `${what}: column ${span.column} of ${len + 1}`);
  assert.ok(span.endLine > span.line || (span.endLine === span.line && span.endColumn >= span.column), `${what}: ends before it starts`);
  assert.ok(span.endLine <= ls.length, `${what}: end line ${span.endLine} of ${ls.length}`);
  const endLen = (ls[span.endLine - 1] ?? '').length;
  assert.ok(span.endColumn >= 1 && span.endColumn <= endLen + 1, `${what}: end column ${span.endColumn} of ${endLen + 1}`);
}

function checkResult(r: CompileResult, fileText: string): void {
  const diagnostics: readonly Diagnostic[] = r.ok ? r.warnings : r.diagnostics;
  if (!r.ok) assert.ok(diagnostics.some((d) => d.severity === 'error'), 'a failed compile says why');
  assert.equal(r.sources.get(RULES_FILE), fileText.startsWith('\uFEFF') ? fileText.slice(1) : fileText);
  for (const d of diagnostics) {
    assertInside(d.span, r.sources, `${d.code} ${d.message}`);
    for (const rel of d.related ?? []) assertInside(rel.span, r.sources, `${d.code} related "${rel.message}"`);
    const shown = formatDiagnostic(d, (f) => r.sources.get(f));
    assert.match(shown, /^.+:\d+:\d+: (error|warning)\[[EW]\d{3}\]: /);
  }
}

describe('fuzz: hostile rules files', () => {
  test('every shipped and test rules file compiles without throwing, diagnostics inside the file', () => {
    for (const s of seeds()) {
      const r = compileRulesSource(s.text, RULES_FILE, { readFile });
      checkResult(r, s.text);
    }
  });

  test('mutated rules files: compile never throws; every diagnostic points inside its file', (t) => {
    let failed = 0;
    let compiled = 0;
    fc.assert(
      fc.property(mutatedRules, ({ text }) => {
        const r = compileRulesSource(text, RULES_FILE, { readFile });
        checkResult(r, text);
        if (r.ok) compiled++;
        else failed++;
      }),
      { numRuns: runs(1500), includeErrorInReport: true },
    );
    t.diagnostic(`${compiled + failed} mutated files: ${compiled} compiled, ${failed} refused with located errors`);
  });

  test('random text and token soup: compile never throws; every diagnostic points inside its file', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300, unit: 'binary' }),
          fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }).map((ts) => ts.join(' ')),
          fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }).map((ts) => ts.join('')),
        ),
        (text) => checkResult(compileRulesSource(text, RULES_FILE, { readFile }), text),
      ),
      { numRuns: runs(1500), includeErrorInReport: true },
    );
  });

  test('compileRulesFile on a path that is a directory, missing, or unreadable: a located error, no throw', () => {
    for (const path of ['/', '/nonexistent/x.rules', '/proc/self/mem', '']) {
      const r = compileRulesFile(path);
      assert.equal(r.ok, false, path);
      if (!r.ok) assert.ok(r.diagnostics.length > 0);
    }
  });
});

/** A watcher the test never fires: reloads are triggered by hand, as SIGHUP would. */
class QuietWatcher implements Watcher {
  setPaths(): void {}
  async close(): Promise<void> {}
}

/** One session touching every phase with values the seed rules care about (the same id each time: it ends in between). */
function probe(): string[] {
  const sid = 'aaaaaaaaaaaaaaaa';
  const r = (e: string, p = ''): string => `report|0.6|1795635326.1|smtp-in|${e}|${sid}${p}`;
  const f = (phase: string, token: string, param: string): string => `filter|0.6|1795635326.1|smtp-in|${phase}|${sid}|${token}|${param}`;
  return [
    r('link-connect', '|dsl-1-2-3.pool.example|fail|192.0.2.99:4000|127.0.0.1:25'),
    f('connect', '1a9c37f7cd0c06a5', 'dsl-1-2-3.pool.example|192.0.2.99'),
    f('ehlo', '1a9c37f9d78d35b9', '[192.0.2.99]'),
    f('mail-from', '1a9c37fc5c0df525', 'bulk@spam.example'),
    f('rcpt-to', '1a9c37fdc8eee799', 'root@example.org'),
    f('data', '1a9c37feaba716e8', ''),
    f('commit', '1a9c3800f98076e9', ''),
    r('link-disconnect'),
  ];
}

describe('fuzz: hot reload of hostile rules files', () => {
  const startRules = 'list trusted = { 127.0.0.0/8 }\nchain main =\n    accept when src in trusted\n    then pause 1s\n    then reject "550 5.7.1 bare IP" when helo ~ /^\\[?[0-9.]+\\]?$/\n    then junk when rdns ~ /pool/\n';

  test('a reload applies rules that compile; anything else leaves the running rules intact', async (t) => {
    const counts = { applied: 0, kept: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(mutatedRules, mutatedRules.map((m) => ({ ...m, text: m.text.replace(/chain [a-z-]+/, 'chain main') }))), { minLength: 1, maxLength: 4 }), async (edits) => {
        const files = new Map<string, string>([[RULES_FILE, startRules], ...Object.entries(FUZZ_LIST_FILES)]);
        const clock = new FakeClock();
        const log = new CountingLogger();
        const out: string[] = [];
        const created = FilterHost.create({
          rules: (() => {
            const r = compileRulesSource(startRules, RULES_FILE, { readFile });
            assert.ok(r.ok);
            return r.rules;
          })(),
          chain: 'main',
          clock,
          log,
          services: fuzzServices(clock, log, false, 'stateless'),
          schedule: (fn) => fn(),
          output: { write: (c) => (out.push(...String(c).split('\n').filter(Boolean)), true), once: () => undefined },
        });
        assert.ok(created.ok);
        const host = created.value;
        host.feed(Buffer.from(`${HANDSHAKE_68.join('\n')}\n`));
        const answersTo = async (): Promise<string[]> => {
          const before = out.length;
          for (const l of probe()) {
            host.feed(Buffer.from(`${l}\n`));
            clock.advance(2000);
            await settle();
          }
          clock.advance(3_600_000);
          await settle();
          return out.slice(before);
        };
        const reloader = startReloader({
          rulesFile: RULES_FILE,
          initialRules: (() => {
            const r = compileRulesSource(startRules, RULES_FILE, { readFile });
            assert.ok(r.ok);
            return r.rules;
          })(),
          initialSources: new Map([[RULES_FILE, startRules]]),
          compile: compileRulesFile,
          selectChain: (rules) => selectChain(rules, host.chain),
          apply: (rules) => {
            const swapped = host.swapRules(rules);
            if (!swapped.ok) throw new Error(swapped.error);
          },
          clock,
          log,
          watcherFactory: () => new QuietWatcher(),
          readFile: async (p) => {
            const text = files.get(resolve(p));
            if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
            return text;
          },
          dataLineRegistered: true,
        });
        await reloader.whenIdle();
        let expected = await answersTo();
        for (const edit of edits) {
          const generation = host.stats().generation;
          files.set(RULES_FILE, edit.text);
          reloader.trigger('SIGHUP');
          clock.advance(10_000);
          await settle();
          await reloader.whenIdle();
          const verdict = compileRulesSource(edit.text, RULES_FILE, { readFile });
          const runnable = verdict.ok && selectChain(verdict.rules, 'main').ok;
          const answers = await answersTo();
          if (runnable) {
            assert.equal(host.stats().generation, generation + 1, `compiled rules were not applied (from ${edit.seed})`);
            counts.applied++;
            expected = answers;
          } else {
            assert.equal(host.stats().generation, generation, `rules that do not compile replaced the running ones (from ${edit.seed})`);
            assert.deepEqual(answers, expected, 'a refused reload changed the answers');
            counts.kept++;
          }
        }
        assert.equal(log.counts.get('reload pass crashed') ?? 0, 0);
        assert.deepEqual(log.errors.filter((e) => /internal error/.test(e.msg)), []);
        await reloader.close();
        await host.end();
      }),
      { numRuns: runs(150), includeErrorInReport: true },
    );
    t.diagnostic(`${counts.applied + counts.kept} reloads: ${counts.applied} applied rules that compiled, ${counts.kept} refused with the running rules kept`);
  });
});
