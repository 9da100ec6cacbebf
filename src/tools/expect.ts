/**
 * `replay --expect FILE`: the replay listing compared with a saved one.
 * What is compared is the decisions: comment lines (`#`), the rule
 * locations in brackets (`[antispam.rules:7]`) and the amount of white space
 * are not, so editing a comment or moving a rule down the file does not fail
 * the expectation, while any changed answer does. Differences come back as a
 * unified diff (`-` expected, `+` got) of the lines as written, with a little
 * context.
 */

/** A listing line: what is compared (`key`) and what is shown (`text`). */
export interface ListingLine {
  readonly key: string;
  readonly text: string;
}

/** The lines that count, with their comparison keys; no comments, no trailing blank lines. */
export function significantLines(text: string): ListingLine[] {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => !l.startsWith('#'))
    .map((l) => ({ key: comparisonKey(l), text: l }));
  while (lines.length > 0 && lines[lines.length - 1]?.text === '') lines.pop();
  return lines;
}

/** The line without its trailing `[file:line]` and with white space runs as one space. */
export function comparisonKey(line: string): string {
  return line
    .replace(/\s+\[[^\]\s]+:\d+\]$/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

type Op = { readonly op: ' ' | '-' | '+'; readonly line: string };

/** Above this many differing lines on each side, no alignment is attempted (all removed, then all added). */
const MAX_ALIGNED = 4000;

/** Align two listings by key; unchanged lines are shown as they are now (`b`). */
function align(la: readonly ListingLine[], lb: readonly ListingLine[]): Op[] {
  const a = la.map((l) => l.key);
  const b = lb.map((l) => l.key);
  const ops = alignKeys(a, b);
  let i = 0;
  let j = 0;
  return ops.map((o): Op => {
    switch (o.op) {
      case ' ':
        i++;
        return { op: ' ', line: lb[j++]?.text ?? o.line };
      case '-':
        return { op: '-', line: la[i++]?.text ?? o.line };
      case '+':
        return { op: '+', line: lb[j++]?.text ?? o.line };
    }
  });
}

function alignKeys(a: readonly string[], b: readonly string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const head: Op[] = a.slice(0, start).map((line) => ({ op: ' ', line }));
  const tail: Op[] = a.slice(endA).map((line) => ({ op: ' ', line }));
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  if (midA.length > MAX_ALIGNED || midB.length > MAX_ALIGNED) {
    return [...head, ...midA.map((line): Op => ({ op: '-', line })), ...midB.map((line): Op => ({ op: '+', line })), ...tail];
  }
  // Longest common subsequence of the middle parts.
  const n = midA.length;
  const m = midB.length;
  const len = new Uint32Array((n + 1) * (m + 1));
  const at = (i: number, j: number): number => len[i * (m + 1) + j] ?? 0;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      len[i * (m + 1) + j] = midA[i] === midB[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
    }
  }
  const mid: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && midA[i] === midB[j]) {
      mid.push({ op: ' ', line: midA[i] ?? '' });
      i++;
      j++;
    } else if (i < n && (j >= m || at(i + 1, j) >= at(i, j + 1))) {
      // Removed lines before added ones, as diff -u shows them.
      mid.push({ op: '-', line: midA[i] ?? '' });
      i++;
    } else {
      mid.push({ op: '+', line: midB[j] ?? '' });
      j++;
    }
  }
  return [...head, ...mid, ...tail];
}

/**
 * Null when `got` matches `expected`; otherwise a unified diff of the
 * significant lines, `context` unchanged lines around each change.
 */
export function diffListing(expected: string, got: string, names: { expected: string; got: string }, context = 2): string | null {
  const a = significantLines(expected);
  const b = significantLines(got);
  if (a.length === b.length && a.every((line, i) => line.key === b[i]?.key)) return null;
  const ops = align(a, b);
  const out = [`--- ${names.expected}`, `+++ ${names.got}`];
  const changed = ops.map((o, k) => (o.op === ' ' ? -1 : k)).filter((k) => k >= 0);
  let k = 0;
  while (k < changed.length) {
    const first = changed[k] ?? 0;
    let last = first;
    while (k + 1 < changed.length && (changed[k + 1] ?? 0) - last <= 2 * context + 1) last = changed[++k] ?? last;
    k++;
    const from = Math.max(0, first - context);
    const to = Math.min(ops.length, last + context + 1);
    // Line numbers of the hunk in each listing (1-based), as in `diff -u`.
    const before = ops.slice(0, from);
    const startA = before.filter((o) => o.op !== '+').length + 1;
    const startB = before.filter((o) => o.op !== '-').length + 1;
    const hunk = ops.slice(from, to);
    const countA = hunk.filter((o) => o.op !== '+').length;
    const countB = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${startA},${countA} +${startB},${countB} @@`);
    for (const o of hunk) out.push(`${o.op}${o.line}`);
  }
  return `${out.join('\n')}\n`;
}
