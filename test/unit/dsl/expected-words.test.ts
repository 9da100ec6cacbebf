/**
 * The parser consumes steps, options, choices, phases and fields by token
 * category (issue 11 stage 7c); messages still list the words. Each category
 * expands to its words in its table's order — the step words of all the
 * STEP_* alternatives together in catalogue order, not shape by shape — and a
 * category in place of a list of words keeps that list's error recovery.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FIELDS } from '../../../src/conditions/fields.js';
import { lex } from '../../../src/dsl/lexer.js';
import { parse } from '../../../src/dsl/parse.js';
import { SourceText } from '../../../src/dsl/source.js';
import { RULE_PHASES } from '../../../src/model/phases.js';
import { STEPS } from '../../../src/steps/catalogue.js';

function syntaxErrors(text: string): string[] {
  const source = new SourceText('t.rules', text);
  const lexed = lex(source);
  assert.deepEqual(lexed.diagnostics, [], 'the texts here lex cleanly');
  return parse(lexed.tokens, source).diagnostics.map((d) => `${d.span.line}:${d.span.column} ${d.message}`);
}

/** `'a', 'b' or 'c'`, as messages write a list of words. */
function words(list: readonly string[]): string {
  const quoted = list.map((w) => `'${w}'`);
  return `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1] ?? ''}`;
}

describe('expected lists name the words of each category', () => {
  test('a step: every step keyword, in catalogue order', () => {
    assert.deepEqual(syntaxErrors('chain c = frobnicate'), [`1:11 expected ${words(STEPS.map((s) => s.keyword))}, found "frobnicate"`]);
    assert.deepEqual(syntaxErrors('chain c = dry-run 3s'), [`1:19 expected ${words(STEPS.map((s) => s.keyword))}, found "3s"`]);
  });

  test('a condition: not, a group, then every field in field-row order', () => {
    assert.deepEqual(syntaxErrors('chain c = accept when 3s'), [`1:23 expected ${words(['not', '(', ...FIELDS.map((f) => f.name)])}, found "3s"`]);
  });

  test('a phase: every phase in the order sessions reach them', () => {
    assert.deepEqual(syntaxErrors('chain c = accept at src'), [`1:21 expected ${words(RULE_PHASES)}, found "src"`]);
  });

  // The grammar takes the choice words of every option by category (CHOICE_REPLY, CHOICE_WORD):
  // since the limit step (issue 13), its choices show beside pregreet's.
  test('a choice: the choice words of the options', () => {
    assert.deepEqual(syntaxErrors('chain c = pause 3s pregreet "421 x"'), [
      `1:29 expected 'reject', 'disconnect', 'junk', 'log', 'connections', 'sessions', 'messages', 'recipients', 'bytes', 'tarpit', 'rsa-sha256', 'ed25519-sha256', 'src', 'rdns', 'helo' or 'mail-from', found ""421 x""`,
    ]);
  });

  test('a word that is no phase is one error: recovery skips to the next step, as it did over the list of phase words', () => {
    // A plain CONSUME of PHASE would delete `foo`, take `connect` and report `bar` as a second error.
    assert.deepEqual(syntaxErrors('chain c = accept at foo connect bar then accept'), [`1:21 expected ${words(RULE_PHASES)}, found "foo"`]);
  });
});
