/**
 * Conditions → Predicates: closures over matchers built once at compile time
 * (IP range sets, domain and address sets, RE2 regexes), so evaluating a
 * condition per request is a few lookups, linear in the input at worst.
 */
import { compileRegex } from '../support/regex.js';
import type { Condition, Field, ListDecl, ListRef } from './ast.js';
import { matcherFor, type ListUse, type ValueMatcher } from './list-items.js';
import { resolveInline, type ResolvedList } from './lists.js';
import type { Predicate, SessionFacts } from './plan.js';

export interface PredicateEnv {
  readonly listsByName: ReadonlyMap<string, ListDecl>;
  readonly resolved: (decl: ListDecl) => ResolvedList;
}

/** The value a field tests, given the session facts. `rcpt-to` is handled apart (see below). */
function fieldValue(field: Exclude<Field, 'rcpt-to' | 'fcrdns'>, facts: SessionFacts): string | null {
  switch (field) {
    case 'src':
      return facts.src === '' ? null : facts.src;
    case 'rdns':
      return facts.rdns;
    case 'helo':
      return facts.helo;
    case 'mail-from':
      return facts.mailFrom;
  }
}

/**
 * Lift a value test to a field. At rcpt-to, `rcpt-to` tests the recipient being
 * decided on; at data and commit (no current recipient) it is true when any
 * accepted recipient of the transaction passes.
 */
function onField(field: Exclude<Field, 'fcrdns'>, test: (value: string | null) => boolean): Predicate {
  if (field === 'rcpt-to') {
    return (facts) => (facts.rcptTo !== null ? test(facts.rcptTo) : facts.recipients.some((r) => test(r)));
  }
  return (facts) => test(fieldValue(field, facts));
}

const TRUE: Predicate = () => true;

export class PredicateBuilder {
  /** One matcher per (list, use), shared by every condition that uses it. */
  private readonly matchers = new Map<ListDecl, Map<ListUse, ValueMatcher>>();

  constructor(private readonly env: PredicateEnv) {}

  private listMatcher(ref: ListRef, use: ListUse): ValueMatcher {
    if (ref.kind === 'inline') return matcherFor(resolveInline(ref).index, use);
    const decl = this.env.listsByName.get(ref.name.name);
    // The checker has rejected undefined lists; never matching is the safe reading anyway.
    if (decl === undefined) return () => false;
    let byUse = this.matchers.get(decl);
    if (byUse === undefined) {
      byUse = new Map();
      this.matchers.set(decl, byUse);
    }
    let m = byUse.get(use);
    if (m === undefined) {
      m = matcherFor(this.env.resolved(decl).index, use);
      byUse.set(use, m);
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
    const { field, test } = c;
    if (field === 'fcrdns') return (facts) => facts.fcrdns === 'pass';
    switch (test.op) {
      case 'present':
        // Only `rdns` is allowed bare (the checker enforces it): smtpd says `<unknown>` → null.
        return field === 'rdns' ? (facts) => facts.rdns !== null && facts.rdns !== '' : TRUE;
      case 'match': {
        // Hosts and addresses are case-insensitive, so every pattern is.
        const compiled = compileRegex(test.regex.pattern, 'i');
        if (!compiled.ok) return () => false;
        const re = compiled.value;
        return onField(field, (v) => v !== null && re.test(v));
      }
      case 'in': {
        const m = this.listMatcher(test.list, field);
        return onField(field, m);
      }
    }
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
      }
    }
  }
}
