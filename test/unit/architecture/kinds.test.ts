/**
 * Step kinds are named in one place (issue 11, plan §4): code outside
 * src/steps/ does not branch on a step's kind or keyword. It asks the kind's
 * definition (KINDS: timing, dry-run, delaysClient, describe) or its service
 * (SERVICES) instead, so a new kind is a definition, a runner and a line in
 * each list, not a hunt through the runtime.
 *
 * Found by parsing every src/**\/*.ts: a comparison of `….action.kind` or
 * `….flavor` with a step kind or keyword (`step.action.kind === 'pause'`),
 * and a `case 'pause':` of a switch over one. Decisions and outcomes share
 * some words (`decision.type === 'reject'`, `evaluation.kind === 'accept'`)
 * and are not step kinds, so only those two reads count. Record keys are not
 * checked: the services' deps are keyed by kind on purpose (ServiceDeps).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import ts from 'typescript';
import { KINDS, STEPS } from '../../../src/steps/catalogue.js';
import { projectRoot } from '../dsl/helpers.js';
import { readSources } from './graph.js';

/** Where naming kinds is the point: the catalogue itself, the greylist and limits tools and `tools/commands.ts` (they select their own kind's steps). */
const OWNERS = [/^src\/steps\//, /^src\/tools\/greylist\//, /^src\/tools\/limits\//, /^src\/tools\/commands\.ts$/];

const WORDS: ReadonlySet<string> = new Set<string>([...Object.keys(KINDS), ...STEPS.map((d) => d.keyword)]);

/** `….action.kind`, `action.kind`, `….flavor`: what a step's kind or keyword is read as. */
function readsKind(e: ts.Expression): boolean {
  if (!ts.isPropertyAccessExpression(e)) return false;
  if (e.name.text === 'flavor') return true;
  if (e.name.text !== 'kind') return false;
  const owner = e.expression;
  return (ts.isIdentifier(owner) && owner.text === 'action') || (ts.isPropertyAccessExpression(owner) && owner.name.text === 'action');
}

const COMPARISONS = new Set([ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken]);

const kindWord = (e: ts.Expression): string | null => (ts.isStringLiteralLike(e) && WORDS.has(e.text) ? e.text : null);

/** Every place `source` branches on a step kind: `file:line: 'word'`. */
function kindBranches(file: string, source: string): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const note = (node: ts.Node, word: string): void => {
    found.push(`${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}: '${word}'`);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isBinaryExpression(node) && COMPARISONS.has(node.operatorToken.kind)) {
      const word = readsKind(node.left) ? kindWord(node.right) : readsKind(node.right) ? kindWord(node.left) : null;
      if (word !== null) note(node, word);
    }
    if (ts.isSwitchStatement(node) && readsKind(node.expression)) {
      for (const clause of node.caseBlock.clauses) {
        const word = ts.isCaseClause(clause) ? kindWord(clause.expression) : null;
        if (word !== null) note(clause, word);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

describe('step kinds are named in src/steps/ only (plan §4)', () => {
  const sources = readSources(projectRoot, 'src');
  const branches = new Map<string, string[]>();
  for (const [file, text] of sources) {
    if (OWNERS.some((re) => re.test(file))) continue;
    const found = kindBranches(file, text);
    if (found.length > 0) branches.set(file, found);
  }

  test('the scan finds each form: a comparison either way round, a flavor, a case of a switch over the kind', () => {
    const sample = [
      "if (step.action.kind === 'pause') x();",
      "if ('greylist' !== s.action.kind) y();",
      "const n = action.options.flavor === 'postgrey';",
      'switch (action.kind) {',
      "  case 'reject':",
      "  case 'other':",
      '}',
      "if (decision.type === 'reject' || evaluation.kind === 'accept') z();",
    ].join('\n');
    assert.deepEqual(kindBranches('src/x.ts', sample), ["src/x.ts:1: 'pause'", "src/x.ts:2: 'greylist'", "src/x.ts:3: 'postgrey'", "src/x.ts:5: 'reject'"]);
    assert.ok(sources.size > 100 && sources.has('src/runtime/plan.ts'), 'the scan reads the tree');
  });

  test('no file outside src/steps/ branches on a step kind', () => {
    const refused = [...branches].flatMap(([, found]) => found);
    assert.deepEqual(refused, [], "ask the kind's definition (steps/catalogue.ts KINDS) or its service instead");
  });
});
