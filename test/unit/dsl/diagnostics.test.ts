import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closest, editDistance } from '../../../src/support/closest.js';
import { diagnostic, formatDiagnostic } from '../../../src/dsl/diagnostics.js';
import { SourceText } from '../../../src/dsl/source.js';

const span = (line: number, column: number, endLine: number, endColumn: number) => ({ file: 'x.rules', line, column, endLine, endColumn });

describe('formatDiagnostic', () => {
  const text = 'list trusted = { 10.0.0.1 }\nchain c =\n\taccept when src in trustd\n';
  const source = (f: string) => (f === 'x.rules' ? text : undefined);

  test('location, severity and code, the line, a caret under the span, the hint', () => {
    const d = diagnostic('E010', span(3, 21, 3, 27), 'undefined list "trustd"', { hint: 'did you mean "trusted"?' });
    assert.equal(
      formatDiagnostic(d, source),
      ['x.rules:3:21: error[E010]: undefined list "trustd"', '3 | \taccept when src in trustd', '  | \t                   ^^^^^^', '  = hint: did you mean "trusted"?'].join('\n'),
    );
  });

  test('related places get a note and their own frame', () => {
    const d = diagnostic('E011', span(2, 7, 2, 8), 'dup', { related: [{ span: span(1, 6, 1, 13), message: 'first defined here' }] });
    assert.equal(
      formatDiagnostic(d, source),
      ['x.rules:2:7: error[E011]: dup', '2 | chain c =', '  |       ^', '  = note: x.rules:1:6: first defined here', '1 | list trusted = { 10.0.0.1 }', '  |      ^^^^^^^'].join('\n'),
    );
  });

  test('warnings say warning; without the source there is no frame', () => {
    const d = diagnostic('W001', span(1, 6, 1, 13), 'unused');
    assert.equal(formatDiagnostic(d, () => undefined), 'x.rules:1:6: warning[W001]: unused');
  });

  test('a span running over several lines is underlined to the end of its first line', () => {
    const d = diagnostic('E004', span(2, 7, 3, 5), 'x');
    assert.equal(formatDiagnostic(d, source).split('\n')[2], '  |       ^^^');
  });

  test('a zero-width span at the end of a line still gets one caret', () => {
    const d = diagnostic('E004', span(2, 10, 2, 10), 'x');
    assert.equal(formatDiagnostic(d, source).split('\n')[2], '  |          ^');
  });

  test('the gutter is as wide as the widest line number shown', () => {
    const many = `${'\n'.repeat(11)}chain c = x`;
    const d = diagnostic('E004', { file: 'x.rules', line: 12, column: 11, endLine: 12, endColumn: 12 }, 'x', {
      related: [{ span: { file: 'x.rules', line: 1, column: 1, endLine: 1, endColumn: 1 }, message: 'here' }],
    });
    const out = formatDiagnostic(d, () => many).split('\n');
    assert.equal(out[1], '12 | chain c = x');
    assert.equal(out[2], '   |           ^');
    assert.equal(out[4], ' 1 |');
  });
});

describe('did-you-mean', () => {
  test('edit distance counts adjacent swaps as one edit', () => {
    assert.equal(editDistance('tehn', 'then'), 1);
    assert.equal(editDistance('mial-from', 'mail-from'), 1);
    assert.equal(editDistance('pasue', 'pause'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  test('closest picks the nearest candidate within a length-dependent limit', () => {
    assert.equal(closest('trustd', ['trusted', 'dynamic']), 'trusted');
    assert.equal(closest('Trusted', ['trusted']), 'trusted');
    assert.equal(closest('xyz', ['trusted', 'dynamic']), null);
    assert.equal(closest('at', ['on', 'in']), null);
    assert.equal(closest('whne', ['when', 'then']), 'when');
  });
});

describe('SourceText', () => {
  test('offsets map to 1-based lines and columns across \\n, \\r\\n and \\r', () => {
    const s = new SourceText('f', 'ab\ncd\r\nef\rgh');
    assert.deepEqual(s.position(0), { line: 1, column: 1 });
    assert.deepEqual(s.position(3), { line: 2, column: 1 });
    assert.deepEqual(s.position(7), { line: 3, column: 1 });
    assert.deepEqual(s.position(10), { line: 4, column: 1 });
    assert.deepEqual(s.position(12), { line: 4, column: 3 });
    assert.deepEqual(s.position(99), { line: 4, column: 3 });
    assert.deepEqual(s.endSpan(), { file: 'f', line: 4, column: 3, endLine: 4, endColumn: 3 });
  });
});
