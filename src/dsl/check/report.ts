/**
 * How a check says what it found: one diagnostic, by code, located. The
 * checker collects them; the checks only call it.
 */
import type { SourceSpan } from '../../model/span.js';
import type { Code } from '../codes.js';
import type { RelatedSpan } from '../diagnostics.js';

export type Report = (code: Code, span: SourceSpan, message: string, extra?: { readonly hint?: string | undefined; readonly related?: readonly RelatedSpan[] }) => void;
