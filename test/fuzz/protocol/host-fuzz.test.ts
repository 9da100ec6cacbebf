/**
 * Hostile protocol input against the running host, in-process, on a fake
 * clock (issue 6, "Hostile protocol input"). Conversations are built from the
 * recorded smtpd 6.8 transcripts: sessions interleaved, ids reused, lines
 * dropped, duplicated, swapped, cut, fields replaced by hostile values,
 * garbage lines and stray disconnects, clock advances in between.
 *
 * For every case:
 *  - the host never throws and logs no internal error (a bug of ours);
 *  - the referee (oracle.ts) sees only valid lines, nothing written for a
 *    request not received, exactly one answer per well-formed request, every
 *    data line echoed once;
 *  - feeding the same bytes in arbitrary chunks gives the same output (when
 *    the rules' timing is driven by the clock alone), or at least only valid lines.
 *
 * FUZZ_RUNS scales the number of cases (default 1 → ~2,000 conversations).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { conversation, oneLinePerFeed } from './corpus.js';
import { BUG_MESSAGES, ruleSets, runConversation, type RuleSet } from './harness.js';
import { syntaxProblem } from './oracle.js';

const SCALE = Number(process.env['FUZZ_RUNS'] ?? '1');
const RUNS = Math.max(1, Math.round(330 * SCALE));
fc.configureGlobal({ includeErrorInReport: true });


function bugLogs(set: RuleSet, log: { errors: { msg: string; fields: Record<string, unknown> }[] }): string[] {
  return log.errors
    .filter(
      (e) =>
        BUG_MESSAGES.includes(e.msg) ||
        // A data line with NUL (smtpd never sends one) is dropped by design; any other refusal is a bug.
        (!set.buggy && e.msg === 'refused to send an invalid protocol line' && e.fields['problem'] !== 'data line contains LF or NUL'),
    )
    .map((e) => `${e.msg} ${JSON.stringify(e.fields).slice(0, 400)}`);
}

describe('fuzz: hostile protocol input, in-process', () => {
  for (const set of ruleSets()) {
    test(`rules "${set.name}": one valid answer per request, whatever smtpd sends`, async (t) => {
      const totals = { cases: 0, inputBytes: 0, requests: 0, answers: 0, dataLines: 0 };
      await fc.assert(
        fc.asyncProperty(conversation(), async (conv) => {
          const lineByLine = await runConversation(set, oneLinePerFeed(conv.actions), { oracle: true });
          const oracle = lineByLine.oracle;
          assert.ok(oracle !== null);
          assert.deepEqual(oracle.violations, [], `protocol violations (sessions ${conv.sessions.join(',')})`);
          assert.equal(lineByLine.unterminated, '', 'a line written without its \\n');
          assert.deepEqual(bugLogs(set, lineByLine.log), [], 'internal errors logged');

          const chunked = await runConversation(set, conv.actions);
          assert.deepEqual(bugLogs(set, chunked.log), [], 'internal errors logged (chunked input)');
          assert.equal(chunked.unterminated, '');
          if (!set.microtaskAsync) {
            assert.deepEqual(chunked.output, lineByLine.output, 'output depends on how the input was chunked');
          } else {
            for (const l of chunked.output) assert.equal(syntaxProblem(l), null, l);
          }
          totals.cases++;
          totals.inputBytes += conv.actions.reduce((n, a) => n + (a.kind === 'bytes' ? a.data.length : 0), 0);
          totals.requests += oracle.requests;
          totals.answers += oracle.answers;
          totals.dataLines += oracle.dataLines;
        }),
        { numRuns: RUNS },
      );
      // Figures for the hardening report (shown by the test runner).
      t.diagnostic(
        `${totals.cases} conversations, ${(totals.inputBytes / 1e6).toFixed(1)} MB fed, ${totals.requests} well-formed requests (${totals.answers} answered; the rest were dropped by their session's disconnect), ${totals.dataLines} data lines`,
      );
    });
  }
});
