/**
 * How a compiled step is shown to people: the reload diff, the startup log,
 * `check`, the decision lines and the tools' reports. Pure, and free of step
 * kinds: the words of each kind are its definition's describe.text, which the
 * compiler put on the step (CompiledStep.text).
 */
import { basename } from 'node:path';
import type { CompiledStep } from './plan.js';
import type { SourceSpan } from './span.js';

/** `/etc/mail/filter.rules:7`: the rule's place, as the log's `rule` field names it. */
export function ruleRef(span: SourceSpan): string {
  return `${span.file}:${span.line}`;
}

/** `filter.rules:7`: the place with the file's base name, stable wherever a tool runs. */
export function shortRuleRef(span: SourceSpan): string {
  return `${basename(span.file)}:${span.line}`;
}

/** `pause 3000ms @connect when src in trusted` — for logs; on-error only when it is `proceed`. */
export function describeStep(step: CompiledStep): string {
  const onError = step.onError === 'proceed' ? ' on-error proceed' : '';
  return `${dryRunPrefix(step)}${step.text} @${step.phase}${whenSuffix(step)}${onError}`;
}

/** `#0 pause at connect when src in trusted (/etc/mail/filter.rules:2)`: a step in the startup log and `check`. */
export function startupLine(step: CompiledStep): string {
  // The kind, not the keyword (`policy` for a postgrey step): the line has said so since the first release.
  return `#${step.index} ${dryRunPrefix(step)}${step.action.kind} at ${step.phase}${whenSuffix(step)} (${ruleRef(step.span)})`;
}

/**
 * The step as written in the rules file, on one line (`reject "550 ..." when
 * helo ~ /x/`), or rebuilt from the compiled step when the text is missing.
 */
export function stepText(step: CompiledStep, sources: ReadonlyMap<string, string>): string {
  const text = sources.get(step.span.file);
  const written = text === undefined ? null : sliceSpan(text, step.span);
  if (written !== null && written.trim() !== '') return written.replace(/\s+/g, ' ').trim();
  return `${dryRunPrefix(step)}${step.text}${whenSuffix(step)}`;
}

/** The text of a span (1-based lines and columns, exclusive end); null when it does not fit the text. */
export function sliceSpan(text: string, span: SourceSpan): string | null {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) starts.push(i + 1);
  }
  const lineStart = starts[span.line - 1];
  const endLineStart = starts[span.endLine - 1];
  if (lineStart === undefined || endLineStart === undefined) return null;
  const from = lineStart + span.column - 1;
  const to = endLineStart + span.endColumn - 1;
  if (from < 0 || to > text.length || to < from) return null;
  return text.slice(from, to);
}

function dryRunPrefix(step: CompiledStep): string {
  return step.dryRun === true ? 'dry-run ' : '';
}

function whenSuffix(step: CompiledStep): string {
  return step.whenText === null ? '' : ` when ${step.whenText}`;
}
