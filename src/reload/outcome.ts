/**
 * What one reload pass did, as a value, and how each outcome is logged.
 * Keeping the log wording here (and out of the pass logic) makes every
 * message testable and keeps the levels consistent:
 *   applied → info (+ one warn record for warnings / restart needed)
 *   unchanged → debug (info when someone asked: SIGHUP, or the file came back)
 *   missing → warn, rejected / refused / failed / abandoned → error.
 */
import { basename } from 'node:path';
import type { Logger } from '../support/log.js';
import { isEmptyDiff, summarizeDiff, type RulesDiff } from './diff.js';

interface Base {
  /** `SIGHUP`, `change: /etc/mail/rules`, … */
  readonly reason: string;
}

export type ReloadOutcome =
  | (Base & {
      readonly kind: 'applied';
      readonly chain: string;
      readonly compileMs: number;
      readonly diff: RulesDiff;
      /** Files whose content differs from what the previous rules were compiled from. */
      readonly filesChanged: readonly string[];
      readonly watchAdded: readonly string[];
      readonly watchRemoved: readonly string[];
      readonly warnings: number;
      /** Every warning, formatted as `check` prints it; "" when none. */
      readonly warningsText: string;
      /** The rules need data-line, which was not registered at startup. */
      readonly needsRestart: boolean;
    })
  | (Base & { readonly kind: 'unchanged'; readonly forced: boolean; readonly afterMissing: boolean })
  | (Base & { readonly kind: 'missing'; readonly file: string })
  | (Base & {
      readonly kind: 'rejected';
      readonly compileMs: number;
      readonly errors: number;
      readonly warnings: number;
      /** Every diagnostic, formatted as `check` prints it. */
      readonly text: string;
      /** The headline (`file:line:col: error[code]: message`) of the first error. */
      readonly firstError: string;
    })
  | (Base & { readonly kind: 'refused'; readonly compileMs: number; readonly message: string })
  | (Base & { readonly kind: 'failed'; readonly stage: 'compile' | 'apply'; readonly error: Error })
  /** Past the pass's time limit: stopped (or left to finish unheard), nothing applied. */
  | (Base & { readonly kind: 'abandoned'; readonly limitMs: number });

export type ReloadOutcomeKind = ReloadOutcome['kind'];

const KEEP = 'the current rules stay in force';

export function logOutcome(log: Logger, outcome: ReloadOutcome): void {
  const base = { event: 'reload', outcome: outcome.kind, reason: outcome.reason };
  switch (outcome.kind) {
    case 'applied': {
      const listNote =
        isEmptyDiff(outcome.diff) && outcome.filesChanged.length > 0
          ? ` (changed: ${outcome.filesChanged.map((f) => basename(f)).join(', ')})`
          : '';
      const what = isEmptyDiff(outcome.diff) && outcome.filesChanged.length === 0 ? 'no changes' : summarizeDiff(outcome.diff) + listNote;
      log.info(
        {
          ...base,
          chain: outcome.chain,
          compileMs: outcome.compileMs,
          filesChanged: outcome.filesChanged,
          chainsAdded: outcome.diff.chainsAdded,
          chainsRemoved: outcome.diff.chainsRemoved,
          chainsChanged: outcome.diff.chainsChanged,
          ...(outcome.watchAdded.length > 0 ? { watchAdded: outcome.watchAdded } : {}),
          ...(outcome.watchRemoved.length > 0 ? { watchRemoved: outcome.watchRemoved } : {}),
        },
        `rules reloaded (${outcome.reason}) in ${outcome.compileMs} ms: ${what}; new sessions use chain ${outcome.chain}`,
      );
      if (outcome.warnings > 0 || outcome.needsRestart) {
        const restart = outcome.needsRestart
          ? '; a rule needs the message content (data-line), which smtpd only sends to a filter that registered it at startup: restart smtpd for that rule to take effect'
          : '';
        log.warn(
          { ...base, warnings: outcome.warnings, needsRestart: outcome.needsRestart, diagnostics: outcome.warningsText },
          `the reloaded rules have ${plural(outcome.warnings, 'warning')}${restart}`,
        );
      }
      return;
    }
    case 'unchanged': {
      const fields = { ...base, forced: outcome.forced };
      if (outcome.forced) log.info(fields, `rules reloaded (${outcome.reason}): no changes`);
      else if (outcome.afterMissing) log.info(fields, `rules file is back with the same content: no changes`);
      else log.debug(fields, `reload skipped (${outcome.reason}): file contents unchanged`);
      return;
    }
    case 'missing':
      log.warn(
        { ...base, file: outcome.file },
        `rules file ${outcome.file} is missing; ${KEEP} and it is reloaded when it reappears`,
      );
      return;
    case 'rejected':
      log.error(
        { ...base, compileMs: outcome.compileMs, errors: outcome.errors, warnings: outcome.warnings, diagnostics: outcome.text },
        `rules reload failed (${outcome.reason}): ${plural(outcome.errors, 'error')}, first: ${outcome.firstError}; ${KEEP}`,
      );
      return;
    case 'refused':
      log.error(
        { ...base, compileMs: outcome.compileMs, problem: outcome.message },
        `rules reload refused (${outcome.reason}): ${outcome.message}; ${KEEP}`,
      );
      return;
    case 'abandoned':
      log.error(
        { ...base, limitMs: outcome.limitMs },
        `rules reload abandoned (${outcome.reason}): not done after ${outcome.limitMs / 1000} s (a file that does not finish reading, or a compile that slow); ${KEEP}; the next change or SIGHUP starts a new reload`,
      );
      return;
    case 'failed':
      log.error(
        { ...base, stage: outcome.stage, err: outcome.error },
        outcome.stage === 'apply'
          ? `rules reload failed (${outcome.reason}): the new rules could not be applied: ${outcome.error.message}; ${KEEP}`
          : `rules reload failed (${outcome.reason}): internal error in the compiler: ${outcome.error.message}; ${KEEP}`,
      );
      return;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
