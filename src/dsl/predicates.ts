/**
 * Conditions → Predicates: closures over matchers built once at compile time
 * (IP range sets, domain and address sets, RE2 regexes), so evaluating a
 * condition per request is a few lookups, linear in the input at worst.
 * What each field reads, which tests it takes and how its lists match are
 * its row's (conditions/fields.ts).
 */
import { compareNumber, FIELD_BY_NAME, liftTest, type FieldName, type ListFit } from '../conditions/fields.js';
import type { ValueMatcher } from '../conditions/items.js';
import { compileRegex } from '../support/regex.js';
import type { CompareOp, Condition, ListDecl, ListRef } from './ast.js';
import { resolveInline, type ResolvedList } from './lists.js';
import type { Predicate } from '../model/plan.js';

export interface PredicateEnv {
  readonly listsByName: ReadonlyMap<string, ListDecl>;
  readonly resolved: (decl: ListDecl) => ResolvedList;
}

/** For tests the checker has rejected (E045, E010): never matching is the safe reading. */
const NEVER: Predicate = () => false;
const NO_MATCH: ValueMatcher = () => false;

export class PredicateBuilder {
  /** One matcher per (list, field), shared by every condition that tests the field against the list. */
  private readonly matchers = new Map<ListDecl, Map<FieldName, ValueMatcher>>();

  constructor(private readonly env: PredicateEnv) {}

  private listMatcher(ref: ListRef, field: FieldName, fit: ListFit): ValueMatcher {
    if (ref.kind === 'inline') return fit.matcher(resolveInline(ref).index);
    const decl = this.env.listsByName.get(ref.name.name);
    // The checker has rejected undefined lists; never matching is the safe reading anyway.
    if (decl === undefined) return NO_MATCH;
    let byField = this.matchers.get(decl);
    if (byField === undefined) {
      byField = new Map();
      this.matchers.set(decl, byField);
    }
    let m = byField.get(field);
    if (m === undefined) {
      m = fit.matcher(this.env.resolved(decl).index);
      byField.set(field, m);
    }
    return m;
  }

  build(c: Condition): Predicate {
    switch (c.kind) {
      case 'or': {
        const ps = c.operands.map((o) => this.build(o));
        return (facts) => ps.some((p) => p(facts));
      }
      case 'and': {
        const ps = c.operands.map((o) => this.build(o));
        return (facts) => ps.every((p) => p(facts));
      }
      case 'not': {
        const p = this.build(c.operand);
        return (facts) => !p(facts);
      }
      case 'test':
        break;
    }
    const { test } = c;
    const field = FIELD_BY_NAME[c.field];
    switch (test.op) {
      case 'present':
        return field.tests.present?.predicate ?? NEVER;
      case 'match': {
        if (field.tests.match !== true) return NEVER;
        // Hosts and addresses are case-insensitive, so every pattern is.
        const compiled = compileRegex(test.regex.pattern, 'i');
        if (!compiled.ok) return NEVER;
        const re = compiled.value;
        return liftTest(field, (v) => v !== null && re.test(v));
      }
      case 'in': {
        const fit = field.tests.in;
        if (fit === undefined) return NEVER;
        return liftTest(field, this.listMatcher(test.list, c.field, fit));
      }
      case 'compare': {
        const fit = field.tests.compare;
        if (fit === undefined) return NEVER;
        const n = compareNumber(test.number.text, fit);
        if (!n.ok) return NEVER;
        const read = fit.read;
        const holds = comparison(test.compare, n.value);
        return (facts) => {
          const v = read(facts);
          return v !== null && holds(v);
        };
      }
    }
  }
}

/** `value OP threshold` as a function of the value. */
function comparison(op: CompareOp, threshold: number): (value: number) => boolean {
  switch (op) {
    case '>=':
      return (v) => v >= threshold;
    case '>':
      return (v) => v > threshold;
    case '<=':
      return (v) => v <= threshold;
    case '<':
      return (v) => v < threshold;
  }
}

/** Canonical text of a condition, for logs: `src in trusted`, `not (a or b)`. */
export function conditionText(c: Condition): string {
  switch (c.kind) {
    case 'or':
      return c.operands.map(conditionText).join(' or ');
    case 'and':
      return c.operands.map((o) => (o.kind === 'or' ? `(${conditionText(o)})` : conditionText(o))).join(' and ');
    case 'not': {
      const inner = conditionText(c.operand);
      return c.operand.kind === 'or' || c.operand.kind === 'and' ? `not (${inner})` : `not ${inner}`;
    }
    case 'test': {
      const t = c.test;
      switch (t.op) {
        case 'present':
          return c.field;
        case 'match':
          return `${c.field} ~ ${t.regex.text}`;
        case 'in': {
          if (t.list.kind === 'named') return `${c.field} in ${t.list.name.name}`;
          const items = t.list.items.map((i) => (i.quoted ? JSON.stringify(i.text) : i.text));
          return `${c.field} in { ${items.join(', ')} }`;
        }
        case 'compare':
          return `${c.field} ${t.compare} ${t.number.text}`;
      }
    }
  }
}
