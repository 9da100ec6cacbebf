/**
 * CST → typed AST. The only problems found here are inside literals (string
 * escapes); everything about meaning is left to the checker. It is only run
 * on a CST without syntax errors.
 *
 * Every CST element it reads is recorded. A token or node that no reader
 * consumed, or a token a reader does not know, means the parser and this file
 * disagree (a grammar change without its reader): that throws CstShapeError,
 * which dsl/index.ts reports as E000, so the piece can never be dropped and
 * the rest compiled silently as if it had not been written.
 */
import type { CstElement, CstNode, IToken, TokenType } from 'chevrotain';
import { tokenMatcher } from './chevrotain.js';
import { STEP_BY_KEYWORD, STEPS, type StepKeyword } from '../steps/catalogue.js';
import { SHAPE_OF, type OptionSpecs, type ValueShape } from '../steps/spec.js';
import { STEP_WORDS, type ChoiceWord, type OptionWord } from '../steps/words.js';
import { FIELDS, type FieldName } from '../conditions/fields.js';
import { RULE_PHASES, type RulePhase } from '../model/phases.js';
import type {
  ActionNode,
  ChainDecl,
  Condition,
  InlineList,
  ListDecl,
  ListItemNode,
  ListRef,
  Name,
  NumberLit,
  RegexLit,
  RulesFile,
  Step,
  StepOption,
  StringLit,
  Test,
  ValueNode,
} from './ast.js';
import { isCompareOp } from './ast.js';
import { diagnostic, type Diagnostic } from './diagnostics.js';
import type { SourceSpan } from '../model/span.js';
import type { SourceText } from './source.js';
import * as T from './tokens.js';

const isToken = (e: CstElement): e is IToken => 'image' in e;
const isNode = (e: CstElement): e is CstNode => 'children' in e;
const offsetOf = (e: CstElement): number => (isToken(e) ? e.startOffset : (e.location?.startOffset ?? Number.MAX_SAFE_INTEGER));

/** The CST has a piece this file has no reader for: a bug, never a user mistake. */
export class CstShapeError extends Error {
  override readonly name = 'CstShapeError';
  constructor(
    readonly span: SourceSpan,
    readonly detail: string,
  ) {
    super(`${span.file}:${span.line}:${span.column}: ${detail}`);
  }
}

const CLOSED_STRING = /^"(?:[^"\\\r\n]|\\[^\r\n])*"$/;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', n: '\n', r: '\r', t: '\t', '0': '\0' };

class Builder {
  readonly diagnostics: Diagnostic[] = [];
  /** Every token and node a reader took; checked against the whole CST at the end. */
  private readonly consumed = new Set<CstElement>();

  constructor(private readonly source: SourceText) {}

  private take<E extends CstElement>(e: E): E {
    this.consumed.add(e);
    return e;
  }
  toks(n: CstNode, key: string): IToken[] {
    return (n.children[key] ?? []).filter(isToken).map((t) => this.take(t));
  }
  tok(n: CstNode, key: string): IToken | undefined {
    const t = (n.children[key] ?? []).find(isToken);
    return t === undefined ? undefined : this.take(t);
  }
  subs(n: CstNode, key: string): CstNode[] {
    return (n.children[key] ?? []).filter(isNode).map((c) => this.take(c));
  }
  sub(n: CstNode, key: string): CstNode | undefined {
    const c = (n.children[key] ?? []).find(isNode);
    return c === undefined ? undefined : this.take(c);
  }
  /** Punctuation and connectives: read for the record, they carry no value. */
  skip(n: CstNode, ...keys: string[]): void {
    for (const key of keys) this.toks(n, key);
  }
  /** The one token of a node that holds a single word (`phaseName`). */
  onlyToken(n: CstNode, what: string): IToken {
    const all = Object.values(n.children).flat();
    const t = all.find(isToken);
    if (t === undefined) throw new CstShapeError(this.nodeSpan(n), `${what} without a token`);
    return this.take(t);
  }
  unknownToken(t: IToken, what: string): never {
    throw new CstShapeError(this.tokenSpan(t), `${what}: no reader for token ${t.tokenType.name} "${t.image}"`);
  }

  /** Throws CstShapeError at the first element (in source order) no reader consumed. */
  assertAllConsumed(root: CstNode): void {
    const missed: CstElement[] = [];
    const walk = (n: CstNode): void => {
      for (const children of Object.values(n.children)) {
        for (const c of children) {
          if (!this.consumed.has(c)) missed.push(c);
          // A node nobody read hides its contents; report the node itself, not every token in it.
          else if (isNode(c)) walk(c);
        }
      }
    };
    walk(root);
    const first = missed.sort((a, b) => offsetOf(a) - offsetOf(b))[0];
    if (first === undefined) return;
    if (isToken(first)) throw new CstShapeError(this.tokenSpan(first), `token ${first.tokenType.name} "${first.image}" was not read`);
    throw new CstShapeError(this.nodeSpan(first), `no reader for syntax node ${first.name}`);
  }

  tokenSpan(t: IToken): SourceSpan {
    return this.source.span(t.startOffset, t.startOffset + t.image.length);
  }

  nodeSpan(n: CstNode): SourceSpan {
    const loc = n.location;
    if (loc === undefined || !Number.isFinite(loc.startOffset)) return this.source.endSpan();
    const end = Number.isFinite(loc.endOffset) ? (loc.endOffset ?? loc.startOffset) + 1 : loc.startOffset;
    return this.source.span(loc.startOffset, end);
  }

  name(t: IToken | undefined): Name | null {
    return t === undefined ? null : { name: t.image, span: this.tokenSpan(t) };
  }

  number(t: IToken | undefined): NumberLit | null {
    return t === undefined ? null : { text: t.image, span: this.tokenSpan(t) };
  }

  /** Decode a `"..."` token; unknown escapes are reported and kept as written. */
  string(t: IToken | undefined): StringLit | null {
    if (t === undefined) return null;
    const image = t.image;
    const closed = CLOSED_STRING.test(image);
    const body = image.slice(1, closed ? -1 : undefined);
    let value = '';
    for (let i = 0; i < body.length; i++) {
      const c = body[i] ?? '';
      if (c !== '\\') {
        value += c;
        continue;
      }
      const next = body[i + 1];
      const decoded = next === undefined ? undefined : ESCAPES[next];
      if (decoded === undefined) {
        const at = t.startOffset + 1 + i;
        this.diagnostics.push(
          diagnostic('E006', this.source.span(at, at + 1 + (next === undefined ? 0 : 1)), `unknown escape "\\${next ?? ''}" in a string`, {
            hint: 'strings know \\" \\\\ \\n \\r \\t and \\0; write a backslash as \\\\',
          }),
        );
        value += `\\${next ?? ''}`;
      } else {
        value += decoded;
      }
      i++;
    }
    return { value, span: this.tokenSpan(t) };
  }

  regex(t: IToken | undefined): RegexLit | null {
    if (t === undefined) return null;
    const image = t.image;
    // The closing slash is the last unescaped one; flags follow it.
    let pattern = '';
    let i = 1;
    let closedAt = -1;
    for (; i < image.length; i++) {
      const c = image[i];
      if (c === '\\' && i + 1 < image.length) {
        const next = image[i + 1] ?? '';
        pattern += next === '/' ? '/' : `\\${next}`;
        i++;
      } else if (c === '/') {
        closedAt = i;
        break;
      } else {
        pattern += c ?? '';
      }
    }
    const flags = closedAt < 0 ? '' : image.slice(closedAt + 1);
    return { pattern, flags, text: image, span: this.tokenSpan(t) };
  }

  rulesFile(cst: CstNode): RulesFile {
    const lists: ListDecl[] = [];
    const chains: ChainDecl[] = [];
    for (const n of this.subs(cst, 'listDecl')) {
      const l = this.listDecl(n);
      if (l !== null) lists.push(l);
    }
    for (const n of this.subs(cst, 'chainDecl')) {
      const c = this.chainDecl(n);
      if (c !== null) chains.push(c);
    }
    const byPosition = (a: { span: SourceSpan }, b: { span: SourceSpan }) => a.span.line - b.span.line || a.span.column - b.span.column;
    return { file: this.source.file, lists: lists.sort(byPosition), chains: chains.sort(byPosition) };
  }

  listDecl(n: CstNode): ListDecl | null {
    this.skip(n, 'List', 'Equals');
    const name = this.name(this.tok(n, 'Identifier'));
    if (name === null) return null;
    const bodyNode = this.sub(n, 'listBody');
    if (bodyNode !== undefined) return { name, body: this.listBody(bodyNode), span: this.nodeSpan(n) };
    const pathTok = this.tok(n, 'StringLiteral');
    const path = this.string(pathTok);
    const fileTok = this.tok(n, 'File');
    if (path === null || pathTok === undefined || fileTok === undefined) return null;
    const span = this.source.span(fileTok.startOffset, pathTok.startOffset + pathTok.image.length);
    return { name, body: { kind: 'file', path, span }, span: this.nodeSpan(n) };
  }

  listBody(n: CstNode): InlineList {
    const items: ListItemNode[] = [];
    this.skip(n, 'LBrace', 'Comma', 'RBrace');
    for (const itemNode of this.subs(n, 'listItem')) {
      const bare = this.tok(itemNode, 'ListItem');
      if (bare !== undefined) {
        items.push({ text: bare.image, quoted: false, span: this.tokenSpan(bare) });
        continue;
      }
      const s = this.string(this.tok(itemNode, 'StringLiteral'));
      if (s !== null) items.push({ text: s.value, quoted: true, span: s.span });
    }
    return { kind: 'inline', items, span: this.nodeSpan(n) };
  }

  chainDecl(n: CstNode): ChainDecl | null {
    this.skip(n, 'Chain', 'Equals', 'Then');
    const name = this.name(this.tok(n, 'Identifier'));
    if (name === null) return null;
    const steps: Step[] = [];
    for (const s of this.subs(n, 'step')) {
      const step = this.step(s);
      if (step !== null) steps.push(step);
    }
    return { name, steps, span: this.nodeSpan(n) };
  }

  step(n: CstNode): Step | null {
    const actionNode = this.sub(n, 'action');
    const action = actionNode === undefined ? null : this.action(actionNode);
    if (action === null) return null;
    const options: StepOption[] = [];
    for (const o of this.subs(n, 'stepOption')) {
      const opt = this.stepOption(o);
      if (opt !== null) options.push(opt);
    }
    options.sort((a, b) => a.span.line - b.span.line || a.span.column - b.span.column);
    const dryRun = this.tok(n, 'DryRun');
    return { dryRun: dryRun === undefined ? null : this.tokenSpan(dryRun), action, options, span: this.nodeSpan(n) };
  }

  /** `KEYWORD ARGUMENT?`: the keyword by its category, the argument by its shape. */
  action(n: CstNode): ActionNode | null {
    const keywordTok = this.wordOf(n, T.CATEGORIES.STEP, 'step');
    const kind = tokenWord(keywordTok);
    if (!STEP_BY_KEYWORD.has(kind)) this.unknownToken(keywordTok, 'step');
    const definition = STEP_BY_KEYWORD.get(kind);
    const argument = this.value(n);
    this.holdToShape(argument, definition?.argument === null || definition === undefined ? 'none' : SHAPE_OF[definition.argument.type], keywordTok, n);
    return { kind: kind as StepKeyword, argument, keywordSpan: this.tokenSpan(keywordTok), span: this.nodeSpan(n) };
  }

  /** The grammar gives each word one shape of value (the catalogue's); another means the two disagree. */
  holdToShape(v: ValueNode | null, shape: ValueShape, word: IToken, n: CstNode): void {
    const got = v === null ? 'none' : v.shape;
    if (got !== shape) throw new CstShapeError(this.nodeSpan(n), `${tokenWord(word)} with a value of shape ${got}, its catalogue entry takes ${shape}`);
  }

  /** The one token of `category` (or of any of several) among n's children (its keyword); anything else there is read as a value. */
  wordOf(n: CstNode, category: TokenType | readonly TokenType[], what: string): IToken {
    const categories = Array.isArray(category) ? category : [category];
    const words = Object.values(n.children)
      .flat()
      .filter(isToken)
      .filter((t) => categories.some((c) => tokenMatcher(t, c)));
    const [word, extra] = words;
    if (word === undefined) throw new CstShapeError(this.nodeSpan(n), `${what} without its word`);
    if (extra !== undefined) throw new CstShapeError(this.tokenSpan(extra), `${what} with a second word`);
    return this.take(word);
  }

  /** What follows a step or option word, by shape; null when nothing does (STEP_NONE, OPTION_FLAG). */
  value(n: CstNode): ValueNode | null {
    const number = this.tok(n, 'NumberLiteral');
    if (number !== undefined) {
      const num = { text: number.image, span: this.tokenSpan(number) };
      const labelTok = this.tok(n, 'StringLiteral');
      const label = this.string(labelTok);
      if (labelTok === undefined || label === null) return { shape: 'number', ...num };
      return { shape: 'points', number: num, label, span: this.source.span(number.startOffset, labelTok.startOffset + labelTok.image.length) };
    }
    const address = this.sub(n, 'serverAddress');
    if (address !== undefined) {
      const raw = this.tok(address, 'SocketAddress');
      const a = raw !== undefined ? { value: raw.image, span: this.tokenSpan(raw) } : this.string(this.tok(address, 'StringLiteral'));
      if (a === null) throw new CstShapeError(this.nodeSpan(address), 'server address without a value');
      return { shape: 'address', ...a };
    }
    const choiceNode = this.sub(n, 'optionChoice');
    if (choiceNode !== undefined) return this.choice(choiceNode);
    const str = this.string(this.tok(n, 'StringLiteral'));
    return str === null ? null : { shape: 'string', ...str };
  }

  /** `CHOICE_REPLY STRING?` or `CHOICE_WORD`: the word by its category, and the reply if one was written. */
  choice(n: CstNode): ValueNode {
    const choice = this.wordOf(n, [T.CATEGORIES.CHOICE_REPLY, T.CATEGORIES.CHOICE_WORD], 'choice');
    const replyTok = this.tok(n, 'StringLiteral');
    const endTok = replyTok ?? choice;
    return {
      shape: 'choice',
      word: tokenWord(choice) as ChoiceWord,
      wordSpan: this.tokenSpan(choice),
      reply: this.string(replyTok),
      span: this.source.span(choice.startOffset, endTok.startOffset + endTok.image.length),
    };
  }

  stepOption(n: CstNode): StepOption | null {
    const when = this.sub(n, 'whenClause');
    if (when !== undefined) {
      const kw = this.tok(when, 'When');
      const expr = this.sub(when, 'orExpr');
      const condition = expr === undefined ? null : this.orExpr(expr);
      if (kw === undefined || condition === null) return null;
      return { kind: 'when', condition, keywordSpan: this.tokenSpan(kw), span: this.nodeSpan(when) };
    }
    const at = this.sub(n, 'atClause');
    if (at !== undefined) {
      const kw = this.tok(at, 'At');
      const phaseNode = this.sub(at, 'phaseName');
      const phase = phaseNode === undefined ? null : this.phaseOf(phaseNode);
      if (kw === undefined || phase === null) return null;
      return { kind: 'at', phase, keywordSpan: this.tokenSpan(kw), span: this.nodeSpan(at) };
    }
    const onError = this.sub(n, 'onErrorClause');
    if (onError !== undefined) {
      const kw = this.tok(onError, 'OnError');
      if (kw === undefined) return null;
      const proceed = this.tok(onError, 'Proceed');
      const tempfail = this.tok(onError, 'Tempfail');
      if (proceed === undefined && tempfail === undefined) throw new CstShapeError(this.nodeSpan(onError), 'on-error without tempfail or proceed');
      const value = proceed !== undefined ? 'proceed' : 'tempfail';
      return { kind: 'on-error', value, keywordSpan: this.tokenSpan(kw), span: this.nodeSpan(onError) };
    }
    return this.catalogueOption(n);
  }

  /** `OPTION VALUE?`: the word by its category, the value by its shape. */
  catalogueOption(n: CstNode): StepOption {
    const keywordTok = this.wordOf(n, T.CATEGORIES.OPTION, 'option');
    const kind = tokenWord(keywordTok);
    if (!OPTION_WORDS.has(kind)) this.unknownToken(keywordTok, 'option');
    const value = this.value(n);
    this.holdToShape(value, OPTION_SHAPES.get(kind) ?? 'none', keywordTok, n);
    return { kind: kind as OptionWord, value, keywordSpan: this.tokenSpan(keywordTok), span: this.nodeSpan(n) };
  }

  orExpr(n: CstNode): Condition | null {
    this.skip(n, 'Or');
    const operands = this.subs(n, 'andExpr').map((a) => this.andExpr(a));
    return this.combine('or', operands, n);
  }

  andExpr(n: CstNode): Condition | null {
    this.skip(n, 'And');
    const operands = this.subs(n, 'notExpr').map((a) => this.notExpr(a));
    return this.combine('and', operands, n);
  }

  combine(kind: 'or' | 'and', operands: Array<Condition | null>, n: CstNode): Condition | null {
    const present = operands.filter((o): o is Condition => o !== null);
    if (present.length !== operands.length || present.length === 0) return null;
    if (present.length === 1) return present[0] ?? null;
    return { kind, operands: present, span: this.nodeSpan(n) };
  }

  notExpr(n: CstNode): Condition | null {
    const inner = this.sub(n, 'notExpr');
    if (this.tok(n, 'Not') !== undefined && inner !== undefined) {
      const operand = this.notExpr(inner);
      return operand === null ? null : { kind: 'not', operand, span: this.nodeSpan(n) };
    }
    const primary = this.sub(n, 'primary');
    return primary === undefined ? null : this.primary(primary);
  }

  primary(n: CstNode): Condition | null {
    this.skip(n, 'LParen', 'RParen');
    const paren = this.sub(n, 'orExpr');
    if (paren !== undefined) return this.orExpr(paren);
    const test = this.sub(n, 'test');
    return test === undefined ? null : this.test(test);
  }

  test(n: CstNode): Condition | null {
    const fieldTok = this.wordOf(n, T.CATEGORIES.FIELD, 'test');
    const field = fieldOf(fieldTok) ?? this.unknownToken(fieldTok, 'field');
    this.skip(n, 'Tilde', 'In');
    let test: Test = { op: 'present' };
    const regex = this.regex(this.tok(n, 'RegexLiteral'));
    if (regex !== null) test = { op: 'match', regex };
    const refNode = this.sub(n, 'listRef');
    if (refNode !== undefined) {
      const list = this.listRef(refNode);
      if (list === null) return null;
      test = { op: 'in', list };
    }
    const compareTok = this.tok(n, 'Compare');
    if (compareTok !== undefined) {
      const number = this.number(this.tok(n, 'NumberLiteral'));
      if (!isCompareOp(compareTok.image)) this.unknownToken(compareTok, 'compare');
      if (number === null) return null;
      test = { op: 'compare', compare: compareTok.image, number };
    }
    return { kind: 'test', field, fieldSpan: this.tokenSpan(fieldTok), test, span: this.nodeSpan(n) };
  }

  listRef(n: CstNode): ListRef | null {
    const name = this.name(this.tok(n, 'Identifier'));
    if (name !== null) return { kind: 'named', name };
    const body = this.sub(n, 'listBody');
    return body === undefined ? null : this.listBody(body);
  }

  phaseOf(n: CstNode): RulePhase {
    const t = this.onlyToken(n, 'phase');
    return phaseOf(t) ?? this.unknownToken(t, 'phase');
  }
}

/** The word a reserved token stands for (its label is the word quoted). */
function tokenWord(t: IToken): string {
  return (t.tokenType.LABEL ?? '').slice(1, -1);
}

const OPTION_WORDS: ReadonlySet<string> = new Set(STEP_WORDS.filter(([, role]) => role === 'option').map(([w]) => w));
/** Each option word's value shape, from the specs of the steps that take it (they agree: catalogue test). */
const OPTION_SHAPES: ReadonlyMap<string, ValueShape> = new Map(
  STEPS.flatMap((d) => Object.values(d.options as OptionSpecs).map((o): [string, ValueShape] => [o.name, SHAPE_OF[o.type]])),
);

const FIELD_NAMES: ReadonlySet<string> = new Set(FIELDS.map((f) => f.name));
const PHASE_NAMES: ReadonlySet<string> = new Set(RULE_PHASES);

/** A PHASE token's word (`helo` is a field and a phase: the category decides which it is here). */
function phaseOf(t: IToken): RulePhase | null {
  const word = tokenWord(t);
  return tokenMatcher(t, T.CATEGORIES.PHASE) && PHASE_NAMES.has(word) ? (word as RulePhase) : null;
}

/** A FIELD token's word, from the field rows (conditions/fields.ts). */
function fieldOf(t: IToken): FieldName | null {
  const word = tokenWord(t);
  return tokenMatcher(t, T.CATEGORIES.FIELD) && FIELD_NAMES.has(word) ? (word as FieldName) : null;
}

export interface ToAstResult {
  readonly ast: RulesFile;
  readonly diagnostics: Diagnostic[];
}

/** Throws CstShapeError when the CST has a piece no reader consumed (see the header). */
export function toAst(cst: CstNode, source: SourceText): ToAstResult {
  const b = new Builder(source);
  const ast = b.rulesFile(cst);
  b.assertAllConsumed(cst);
  return { ast, diagnostics: b.diagnostics };
}
