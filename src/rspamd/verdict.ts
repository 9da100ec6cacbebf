/**
 * What rspamd's answer means for the message: the step's outcome at commit
 * and the header edits, in rspamd's own milter semantics. Pure.
 *
 * - `reject` → 550 5.7.1 with rspamd's `smtp_message`; `soft reject` and
 *   `greylist` → 451 4.7.1. The text is sanitised (reply.ts).
 * - `add header` → junk: `X-Spam: Yes` on top, as smtpd's own junk writes it
 *   (a junk decision at commit would make smtpd exit: the message is held,
 *   so the header is the junk), plus the headers rspamd asks for.
 * - `rewrite subject` → the whole (folded) Subject replaced by rspamd's.
 * - `no action` → proceed, with the headers rspamd asks for.
 * - `discard` and `quarantine` (rspamd's custom actions) → `junk` by default,
 *   or `reject`, `tempfail` or `proceed` as the step says.
 * - any other action → proceed, noted.
 *
 * Headers: milter.remove_headers (name → index, names without case), then
 * milter.add_headers (`order` given: inserted there; else appended), each
 * DKIM-Signature inserted on top as rspamd's milter does (insheader 1), and
 * values over several lines split into folded lines (message/fields.ts).
 */
import { makeField } from '../message/fields.js';
import type { CustomActionChoice, HeaderEdit, MessageReading, RspamdVerdict } from '../model/message.js';
import type { StepDetail, StepOutcome } from '../model/runner.js';
import { replyOf } from './reply.js';
import type { RspamdAnswer } from './response.js';


export interface VerdictOptions {
  readonly discard: CustomActionChoice;
  readonly quarantine: CustomActionChoice;
}

export const DEFAULT_VERDICT_OPTIONS: VerdictOptions = { discard: { action: 'junk' }, quarantine: { action: 'junk' } };

export type Treatment = 'reject' | 'tempfail' | 'junk' | 'rewrite-subject' | 'proceed';

/** The treatment of rspamd's action. */
export function treatmentOf(action: string, options: VerdictOptions): Treatment {
  switch (action) {
    case 'reject':
      return 'reject';
    case 'soft reject':
    case 'greylist':
      return 'tempfail';
    case 'add header':
      return 'junk';
    case 'rewrite subject':
      return 'rewrite-subject';
    case 'discard':
      return options.discard.action;
    case 'quarantine':
      return options.quarantine.action;
    default:
      return 'proceed';
  }
}

export interface Judged {
  readonly reading: MessageReading;
  /** Headers rspamd asked for that could not be made (a bad name): for a log line. */
  readonly dropped: readonly string[];
}

export function judge(answer: RspamdAnswer, options: VerdictOptions = DEFAULT_VERDICT_OPTIONS): Judged {
  const treatment = treatmentOf(answer.action, options);
  const verdict: RspamdVerdict = { action: answer.action, score: answer.score, requiredScore: answer.requiredScore, symbols: answer.symbols };
  const detail: StepDetail = { rspamdAction: answer.action, rspamdScore: answer.score, treatment };
  const dropped: string[] = [];
  const edits = headerEdits(answer, dropped);
  let outcome: StepOutcome;
  switch (treatment) {
    case 'reject': {
      // A discard or quarantine the rules made a refusal may carry their own reply.
      const custom = answer.action === 'discard' ? options.discard : answer.action === 'quarantine' ? options.quarantine : null;
      const reply = custom?.action === 'reject' && custom.reply !== null ? custom.reply : replyOf('reject', answer.smtpMessage);
      outcome = { type: 'decide', decision: { type: 'reject', reply }, detail };
      break;
    }
    case 'tempfail':
      outcome = { type: 'decide', decision: { type: 'reject', reply: replyOf('tempfail', answer.smtpMessage) }, detail };
      break;
    case 'junk': {
      const spam = makeField('X-Spam', 'Yes');
      if (spam.ok) edits.push({ type: 'insert', position: 0, field: spam.value });
      outcome = { type: 'continue', detail };
      break;
    }
    case 'rewrite-subject': {
      if (answer.subject !== null) {
        const subject = makeField('Subject', answer.subject);
        if (subject.ok) edits.push({ type: 'replace', name: 'Subject', field: subject.value });
      }
      outcome = { type: 'continue', detail };
      break;
    }
    case 'proceed':
      outcome = { type: 'continue', detail };
      break;
  }
  // A rejected message is not delivered: its edits do not matter, but are harmless.
  return { reading: { edits, outcome, rspamd: verdict }, dropped };
}

function headerEdits(answer: RspamdAnswer, dropped: string[]): HeaderEdit[] {
  const edits: HeaderEdit[] = [];
  for (const r of answer.removeHeaders) edits.push({ type: 'remove', name: r.name, index: r.index });
  for (const a of answer.addHeaders) {
    const field = makeField(a.name, a.value);
    if (!field.ok) {
      dropped.push(a.name.slice(0, 60));
      continue;
    }
    edits.push(a.order !== null && a.order >= 0 ? { type: 'insert', position: a.order, field: field.value } : { type: 'append', field: field.value });
  }
  for (const sig of answer.dkimSignatures) {
    const field = makeField('DKIM-Signature', sig.replace(/^DKIM-Signature:\s*/i, ''));
    if (field.ok) edits.push({ type: 'insert', position: 1, field: field.value });
  }
  return edits;
}
