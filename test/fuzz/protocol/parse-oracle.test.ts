/**
 * The parser's in-place scanner (protocol/parse.ts) against the protocol's
 * rules as the referee writes them (oracle.ts: a split and regular
 * expressions, from protocol.md): over the lines real smtpd sent, mutated the
 * way the hostile-input fuzz tests mutate them, and protocol-shaped garbage.
 *
 *  - a line is a filter request for the parser exactly when it is a
 *    well-formed one for the referee, with the same phase, ids and parameter;
 *  - a report is refused for its first six fields exactly when the referee
 *    finds them malformed, and otherwise keeps the session id and event name;
 *  - isReportOf (the host's cheap look at the event name) agrees with the
 *    fifth field of the line.
 *
 * FUZZ_RUNS scales the number of cases (default 1 → 3,000 per property).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isReportOf, parseInputLine } from '../../../src/protocol/parse.js';
import { garbageLine, hex16, hostileText, mutation, mutate, transcripts, withVersion } from './corpus.js';
import { reportOf, requestOf } from './oracle.js';

const SCALE = Number(process.env['FUZZ_RUNS'] ?? '1');
const RUNS = Math.max(1, Math.round(3000 * SCALE));

const recorded: readonly string[] = transcripts().flatMap((t) => t.lines);

/** A recorded line, in 0.6 or 0.7, with up to three of the fuzz tests' mutations (possibly none). */
const mutatedLine: fc.Arbitrary<readonly string[]> = fc
  .tuple(fc.constantFrom(...recorded), fc.constantFrom('0.6', '0.7'), fc.array(mutation, { maxLength: 3 }), hex16)
  .map(([line, version, mutations, sid]) =>
    mutate([Buffer.from(withVersion(line, version), 'utf8')], mutations, [sid], 0).map((b) => b.toString('latin1')),
  );

/** A recorded line with one field (of the first eight) replaced by a hostile value. */
const fieldReplaced: fc.Arbitrary<readonly string[]> = fc
  .tuple(fc.constantFrom(...recorded), fc.nat({ max: 7 }), hostileText)
  .map(([line, i, value]) => {
    const f = line.split('|');
    f[Math.min(i, f.length)] = value;
    return [f.join('|')];
  });

const lines: fc.Arbitrary<readonly string[]> = fc.oneof(
  mutatedLine,
  fieldReplaced,
  garbageLine.map((b) => [b.toString('latin1')]),
);

fc.configureGlobal({ includeErrorInReport: true });

describe('fuzz: the line parser agrees with the protocol referee', () => {
  test('filter requests: accepted exactly when well formed, with the same fields', () => {
    fc.assert(
      fc.property(lines, (ls) => {
        for (const line of ls) {
          const r = parseInputLine(line);
          const want = requestOf(line);
          const got = r.ok && r.value.kind === 'filter' ? r.value : null;
          if (want === null) {
            assert.equal(got, null, `accepted ${JSON.stringify(line.slice(0, 200))}`);
          } else {
            assert.ok(got !== null, `refused ${JSON.stringify(line.slice(0, 200))}: ${r.ok ? r.value.kind : r.error.reason}`);
            assert.deepEqual({ phase: got.phase, sessionId: got.sessionId, token: got.token, param: got.param }, want);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('reports: refused for their first six fields exactly when those are malformed', () => {
    fc.assert(
      fc.property(lines, (ls) => {
        for (const line of ls) {
          if (!line.startsWith('report|')) continue;
          const r = parseInputLine(line);
          const want = reportOf(line);
          const shown = JSON.stringify(line.slice(0, 200));
          if (want === null) {
            assert.ok(!r.ok, `accepted ${shown}`);
            continue;
          }
          if (!r.ok) {
            // Only the event's own parameters may be at fault now.
            assert.ok(r.error.reason.startsWith(`${want.event}: `), `${shown}: ${r.error.reason}`);
          } else if (r.value.kind === 'report') {
            assert.equal(r.value.sessionId, want.sessionId);
            assert.equal(r.value.subsystem, want.subsystem);
            assert.equal(r.value.event.type, want.event);
          } else {
            assert.equal(r.value.kind, 'unknown', shown);
            assert.equal(r.value.kind === 'unknown' && r.value.name, want.event);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('isReportOf looks at the fifth field of a report line, and at nothing else', () => {
    const events = ['protocol-server', 'link-connect', 'tx-rcpt', 'protocol', ''];
    fc.assert(
      fc.property(lines, fc.constantFrom(...events), (ls, event) => {
        for (const line of ls) {
          const want = line.startsWith('report|') && line.split('|')[4] === event;
          assert.equal(isReportOf(line, event), want, `${JSON.stringify(line.slice(0, 200))} ${event}`);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
