/**
 * The typed syntax tree of a rules file. Every node carries its span. Values
 * stay as written (durations and numbers as text, strings decoded but not yet
 * validated): the checker decides what they mean, so it can point at them.
 * Steps and options are generic (keyword or option word + a value by shape),
 * so a new step or option word needs no new node type here.
 */
import type { FieldName } from '../conditions/fields.js';
import type { RulePhase } from '../model/phases.js';
import type { StepKeyword } from '../steps/catalogue.js';
import type { ChoiceWord, OptionWord } from '../steps/words.js';
import type { SourceSpan } from '../model/span.js';

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
  | { readonly op: 'in'; readonly list: ListRef }
  | { readonly op: 'compare'; readonly compare: CompareOp; readonly number: NumberLit };

/** The compare form's operators (`score >= 2.5`). */
export const COMPARE_OPS = ['>=', '>', '<=', '<'] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];

export function isCompareOp(s: string): s is CompareOp {
  return (COMPARE_OPS as readonly string[]).includes(s);
}

export type Condition =
  | { readonly kind: 'or'; readonly operands: readonly Condition[]; readonly span: SourceSpan }
  | { readonly kind: 'and'; readonly operands: readonly Condition[]; readonly span: SourceSpan }
  | { readonly kind: 'not'; readonly operand: Condition; readonly span: SourceSpan }
  | { readonly kind: 'test'; readonly field: FieldName; readonly fieldSpan: SourceSpan; readonly test: Test; readonly span: SourceSpan };

/**
 * A value after a step or option word, by its shape (steps/spec.ts SHAPE_OF):
 * the grammar fixes the shape, the checker what it means for that word.
 */
export type ValueNode =
  | { readonly shape: 'number'; readonly text: string; readonly span: SourceSpan }
  | { readonly shape: 'string' | 'address'; readonly value: string; readonly span: SourceSpan }
  | {
      readonly shape: 'choice';
      readonly word: ChoiceWord;
      readonly wordSpan: SourceSpan;
      readonly reply: StringLit | null;
      readonly span: SourceSpan;
    }
  /** A score's points and label: `+2 "no-rdns"`. */
  | { readonly shape: 'points'; readonly number: NumberLit; readonly label: StringLit; readonly span: SourceSpan };
/** The node of one shape (`string` and `address` share a variant). */
export type ValueShapeOf<S extends ValueNode['shape']> = ValueNode extends infer V ? (V extends { readonly shape: infer X } ? (S extends X ? V & { readonly shape: S } : never) : never) : never;

/**
 * The value as the shape its word takes. to-ast has held every value to its
 * word's shape (CstShapeError otherwise), so a mismatch here is a bug.
 */
export function shaped<S extends ValueNode['shape']>(v: ValueNode | null, shape: S): ValueShapeOf<S> {
  if (v === null || v.shape !== shape) throw new Error(`bug: a value of shape ${v?.shape ?? 'none'} where ${shape} was read`);
  return v as ValueShapeOf<S>;
}

/** A step's keyword and its argument, whatever the step (the catalogue says which takes what). */
export interface ActionNode {
  readonly kind: StepKeyword;
  readonly argument: ValueNode | null;
  readonly keywordSpan: SourceSpan;
  readonly span: SourceSpan;
}
/** The old name, kept while code in flight still says it. */
export type Action = ActionNode;
export type ActionKind = StepKeyword;

type Spans = { readonly keywordSpan: SourceSpan; readonly span: SourceSpan };

/** `when`, `at` and `on-error` belong to the language; every other option is a word of the catalogue. */
export type StepOption =
  | ({ readonly kind: 'when'; readonly condition: Condition } & Spans)
  | ({ readonly kind: 'at'; readonly phase: RulePhase } & Spans)
  | ({ readonly kind: 'on-error'; readonly value: 'tempfail' | 'proceed' } & Spans)
  | ({ readonly kind: OptionWord; readonly value: ValueNode | null } & Spans);

/** The option written with one word (the catalogue's options share a variant). */
export type OptionOf<K extends StepOption['kind']> = StepOption & { readonly kind: K };

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
