/** Shared helpers for the rules-language tests: in-memory files, facts, quick compiles. */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { compileRulesSource, type CompileOptions, type CompileResult } from '../../../src/dsl/index.js';
import type { CompiledChain, CompiledRules, SessionFacts } from '../../../src/model/plan.js';

/** The project folder (tests run from dist/test/unit/dsl/). */
export const projectRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * Whether `text` names `word` as a word of its own: `` `delay` ``, `delay 5m`, "the delay,". Not inside
 * another word (`delayed`, `max-delay`): letters and hyphens continue a word, as in the rules language's
 * keywords. The documentation tests check keywords with it, so a keyword the prose only spells as part of
 * another word counts as undocumented.
 */
export function mentionsWord(text: string, word: string): boolean {
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^a-z-])${escaped}([^a-z-]|$)`, 'm').test(text);
}

/** A readFile over a map; missing files fail like fs does (ENOENT). */
export function memoryFiles(files: Readonly<Record<string, string>>): (path: string) => string {
  return (path) => {
    const text = files[path];
    if (text === undefined) {
      const e = new Error(`ENOENT: no such file or directory, open '${path}'`) as NodeJS.ErrnoException;
      e.code = 'ENOENT';
      throw e;
    }
    return text;
  };
}

const noFiles = memoryFiles({});

export function compile(source: string, options: CompileOptions = {}): CompileResult {
  return compileRulesSource(source, 'test.rules', { readFile: noFiles, ...options });
}

/** Compile and insist on success (warnings allowed). */
export function compileOk(source: string, options: CompileOptions = {}): CompiledRules {
  const r = compile(source, options);
  if (!r.ok) assert.fail(`expected the rules to compile, got:\n${r.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n')}`);
  return r.rules;
}

export function onlyChain(rules: CompiledRules): CompiledChain {
  const [chain] = rules.chains.values();
  assert.ok(chain, 'expected a chain');
  return chain;
}

/** Codes of every diagnostic (errors and warnings), in report order. */
export function codes(source: string, options: CompileOptions = {}): string[] {
  const r = compile(source, options);
  return (r.ok ? r.warnings : r.diagnostics).map((d) => d.code);
}

export function facts(overrides: Partial<SessionFacts> = {}): SessionFacts {
  return {
    sessionId: '0123456789abcdef',
    src: '203.0.113.9',
    srcPort: 40000,
    dest: '192.0.2.1',
    destPort: 25,
    local: false,
    rdns: 'mail.example.org',
    fcrdns: 'pass',
    helo: 'mail.example.org',
    heloMethod: 'EHLO',
    mailFrom: 'alice@example.org',
    rcptTo: null,
    recipients: [],
    messageId: null,
    authUser: null,
    tls: null,
    size: null,
    ...overrides,
  };
}

/** The predicate of the only step of a one-step chain `accept when COND`. */
export function condition(cond: string, lists = ''): (f: SessionFacts) => boolean {
  const rules = compileOk(`${lists}\nchain c = accept when ${cond}`);
  const step = onlyChain(rules).steps[0];
  assert.ok(step?.when, 'expected a condition');
  return step.when;
}
