/**
 * `score-header`: adds the session's score and what it is made of to the
 * message, `X-Filter-Rules-Score: 7 (zen +3, no-rdns +2, helo-literal +2)`
 * (issue 12). It runs at data by default, when the score of the
 * transaction is complete and the message has not started; at mail-from or
 * rcpt-to it shows the score of that moment; at commit the message has
 * passed (E077). It takes smtpd's data-line phase, as every step
 * that adds a header does (`check` says so, W008, when the running filter did
 * not register it). A dry-run step adds nothing. Its definition, kind and
 * runner (no I/O). Pure.
 */
import type { CompiledStep } from '../model/plan.js';
import type { StepOutcome, StepRunner } from '../model/runner.js';
import { formatPoints, formatScore, type ScoreFacts } from '../model/score.js';
import { MAX_HEADER_LINE_OCTETS } from '../support/mail-header.js';
import type { CheckReport, CheckView, KindDefinition, StepDefinition } from './spec.js';

declare module '../model/plan.js' {
  interface StepActions {
    'score-header': {};
  }
}

export const SCORE_HEADER = 'X-Filter-Rules-Score';

const options = {} as const;

/** E077: at commit the message has gone through; a header can no longer go into it. */
function notAtCommit(view: CheckView, report: CheckReport): void {
  const { phase, at } = view.placement;
  if (phase !== 'commit') return;
  report('E077', at?.span ?? view.actionSpan, '`score-header` runs at commit, after the message has passed: the header cannot go into it', {
    hint: 'leave out `at commit`: it runs at data, when the score is complete',
  });
}

export const scoreHeaderStep = {
  keyword: 'score-header',
  argument: null,
  options,
  phases: { earliest: 'mail-from', default: 'data', why: 'it adds a header to the message of a transaction' },
  ends: null,
  decides: [],
  checks: [notAtCommit],
  codes: ['E077'],
  needsDataLine: () => true,
  compile: () => ({ kind: 'score-header' }),
  compiles: ['score-header'],
} as const satisfies StepDefinition<null, typeof options, 'score-header'>;

export const scoreHeaderKind: KindDefinition<'score-header'> = {
  kind: 'score-header',
  timing: { mode: 'sync' },
  dryRun: 'run',
  delaysClient: false,
  describe: { text: () => 'score-header' },
};

/**
 * The header: `X-Filter-Rules-Score: TOTAL (PART, PART, …)`, on one line:
 * the one gate for added headers (support/mail-header.ts) takes single
 * physical lines only, so it is not folded. Labels are words and list names
 * are checked names (ASCII, no controls); past 998 octets the parts that do
 * not fit give way to `...`.
 */
export function scoreHeaderLine(score: ScoreFacts | undefined): string {
  const parts = score?.parts() ?? [];
  const total = parts.reduce((sum, p) => sum + p.milli, 0);
  const head = `${SCORE_HEADER}: ${formatScore(total)}`;
  if (parts.length === 0) return head;
  const shown = parts.map((p) => `${p.label} ${formatPoints(p.milli)}`);
  const full = `${head} (${shown.join(', ')})`;
  if (full.length <= MAX_HEADER_LINE_OCTETS) return full;
  let line = `${head} (`;
  for (const part of shown) {
    if (line.length + part.length + ', ...)'.length > MAX_HEADER_LINE_OCTETS) break;
    line += `${part}, `;
  }
  return `${line}...)`;
}

export function createScoreHeaderRunner(step: CompiledStep): StepRunner {
  return {
    step,
    run: (ctx): StepOutcome => ({ type: 'continue', addHeaders: [scoreHeaderLine(ctx.facts.score)] }),
  };
}
