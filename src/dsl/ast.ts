/**
 * The typed syntax tree of a rules file. Every node carries its span. Values
 * stay as written (durations and numbers as text, strings decoded but not yet
 * validated): the checker decides what they mean, so it can point at them.
 */
import type { FieldName } from '../conditions/fields.js';
import type { RulePhase } from '../protocol/phases.js';
import type { SourceSpan } from './plan.js';

export interface Name {
  readonly name: string;
  readonly span: SourceSpan;
}

export interface StringLit {
  /** Decoded value (escapes resolved). */
  readonly value: string;
  readonly span: SourceSpan;
}

/** A number or duration as written (`3s`, `24`); the checker parses it. */
export interface NumberLit {
  readonly text: string;
  readonly span: SourceSpan;
}

export interface RegexLit {
  /** The pattern between the slashes, with `\/` turned into `/`. */
  readonly pattern: string;
  readonly flags: string;
  /** As written, slashes and flags included (for messages and logs). */
  readonly text: string;
  readonly span: SourceSpan;
}

export interface ListItemNode {
  readonly text: string;
  /** Written as a quoted string (so `""`, the null sender, is possible). */
  readonly quoted: boolean;
  readonly span: SourceSpan;
}

export interface InlineList {
  readonly kind: 'inline';
  readonly items: readonly ListItemNode[];
  readonly span: SourceSpan;
}

export interface FileList {
  readonly kind: 'file';
  readonly path: StringLit;
  readonly span: SourceSpan;
}

export interface ListDecl {
  readonly name: Name;
  readonly body: InlineList | FileList;
  readonly span: SourceSpan;
}

export type ListRef = { readonly kind: 'named'; readonly name: Name } | InlineList;

export type Test =
  | { readonly op: 'present' }
  | { readonly op: 'match'; readonly regex: RegexLit }
  | { readonly op: 'in'; readonly list: ListRef };

export type Condition =
  | { readonly kind: 'or'; readonly operands: readonly Condition[]; readonly span: SourceSpan }
  | { readonly kind: 'and'; readonly operands: readonly Condition[]; readonly span: SourceSpan }
  | { readonly kind: 'not'; readonly operand: Condition; readonly span: SourceSpan }
  | { readonly kind: 'test'; readonly field: FieldName; readonly fieldSpan: SourceSpan; readonly test: Test; readonly span: SourceSpan };

export type Action =
  | { readonly kind: 'pause'; readonly duration: NumberLit; readonly span: SourceSpan }
  | { readonly kind: 'accept'; readonly span: SourceSpan }
  | { readonly kind: 'reject'; readonly reply: StringLit; readonly span: SourceSpan }
  | { readonly kind: 'disconnect'; readonly reply: StringLit; readonly span: SourceSpan }
  | { readonly kind: 'junk'; readonly span: SourceSpan }
  | { readonly kind: 'postgrey'; readonly address: StringLit; readonly span: SourceSpan }
  | { readonly kind: 'policy'; readonly address: StringLit; readonly span: SourceSpan }
  | { readonly kind: 'greylist'; readonly span: SourceSpan };

export type ActionKind = Action['kind'];

/** Options taking a number or duration. */
export type NumericOptionName =
  | 'timeout'
  | 'delay'
  | 'max-age'
  | 'retry-window'
  | 'auto-whitelist'
  | 'ipv4-prefix'
  | 'ipv6-prefix'
  | 'pay-once';

export type StepOption =
  | { readonly kind: 'when'; readonly condition: Condition; readonly keywordSpan: SourceSpan; readonly span: SourceSpan }
  | { readonly kind: 'at'; readonly phase: RulePhase; readonly keywordSpan: SourceSpan; readonly span: SourceSpan }
  | { readonly kind: 'on-error'; readonly value: 'tempfail' | 'proceed'; readonly keywordSpan: SourceSpan; readonly span: SourceSpan }
  | { readonly kind: NumericOptionName; readonly value: NumberLit; readonly keywordSpan: SourceSpan; readonly span: SourceSpan }
  | { readonly kind: 'store'; readonly value: StringLit; readonly keywordSpan: SourceSpan; readonly span: SourceSpan }
  | { readonly kind: 'header'; readonly keywordSpan: SourceSpan; readonly span: SourceSpan }
  /** `pregreet disconnect ["REPLY"]` or `pregreet log` (pause). */
  | {
      readonly kind: 'pregreet';
      readonly action: 'disconnect' | 'log';
      readonly reply: StringLit | null;
      readonly keywordSpan: SourceSpan;
      readonly span: SourceSpan;
    };

export type StepOptionKind = StepOption['kind'];

export interface Step {
  /** The `dry-run` keyword in front of the action, when written. */
  readonly dryRun: SourceSpan | null;
  readonly action: Action;
  readonly options: readonly StepOption[];
  readonly span: SourceSpan;
}

export interface ChainDecl {
  readonly name: Name;
  readonly steps: readonly Step[];
  readonly span: SourceSpan;
}

export interface RulesFile {
  readonly file: string;
  readonly lists: readonly ListDecl[];
  readonly chains: readonly ChainDecl[];
}
