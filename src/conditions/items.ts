/**
 * List items: what a written item is (address range, domain pattern, mail
 * address, the null sender) and the fast matchers the compiled predicates call
 * per request. Which items and which matcher a field takes is its row's
 * (conditions/fields.ts).
 *
 * Matching is case-insensitive. Domains: `example.com` matches itself only;
 * `.example.com` and `*.example.com` match strict subdomains only (write both
 * to get both). Mail addresses: a full address matches exactly; a domain
 * pattern matches the domain part. A trailing dot on a domain is ignored.
 */
import { IpSetBuilder, parseCidr, parseIp, parseIpv4, parseIpv6, type CidrRange, type IpSet } from '../support/net.js';
import { Pacer, type Work } from '../support/work.js';

export type ItemValue =
  | { readonly kind: 'ip'; readonly range: CidrRange }
  | { readonly kind: 'domain'; readonly domain: string; readonly subdomains: boolean }
  | { readonly kind: 'address'; readonly address: string }
  | { readonly kind: 'null-sender' };

/**
 * A malformed item, said two ways: `message`/`hint` quote the item (inline
 * lists: the rules file's own text), `reason`/`reasonHint` never do (items of
 * list files, whose lines must not reach the log: the file may be a secret).
 */
export interface InvalidItem {
  readonly kind: 'invalid';
  readonly message: string;
  readonly hint?: string;
  /** What is wrong, without the item's text: `contains white space`. */
  readonly reason: string;
  readonly reasonHint?: string;
}

export type Classified = ItemValue | InvalidItem;

/** What kind of thing an item is: what a field's `in` says it takes. */
export type ItemKind = ItemValue['kind'];

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;

function normalizeDomain(text: string): string | null {
  let d = text.toLowerCase();
  if (d.endsWith('.')) d = d.slice(0, -1);
  if (d.length === 0 || d.length > 253) return null;
  return d.split('.').every((l) => l.length <= 63 && LABEL.test(l)) ? d : null;
}

function invalid(message: string, reason: string, hints: { hint?: string; reasonHint?: string } = {}): InvalidItem {
  const out: { -readonly [K in keyof InvalidItem]: InvalidItem[K] } = { kind: 'invalid', message, reason };
  if (hints.hint !== undefined) out.hint = hints.hint;
  if (hints.reasonHint !== undefined) out.reasonHint = hints.reasonHint;
  return out;
}

/** parseCidr's complaint about `text`, without the text. */
function cidrReason(text: string): string {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  if (addr.includes('%')) return 'has a zone id (%...), which address ranges do not allow';
  const family = addr.includes(':') ? 6 : 4;
  if ((family === 6 ? parseIpv6(addr) : parseIpv4(addr)) === null) {
    return slash < 0 ? `is not a valid IPv${family} address` : `does not start with a valid IPv${family} address`;
  }
  return `has a prefix length that is not a number from 0 to ${family === 4 ? 32 : 128}`;
}

/** What `text` is as a list item. `quoted` items may be `""` (the null sender). */
export function classifyItem(text: string, quoted: boolean): Classified {
  if (text === '') return quoted ? { kind: 'null-sender' } : invalid('empty list item', 'is empty');
  if (/\s/.test(text)) return invalid(`"${text}" contains white space`, 'contains white space');
  const at = text.lastIndexOf('@');
  if (at >= 0) {
    const local = text.slice(0, at);
    const domain = normalizeDomain(text.slice(at + 1));
    if (local === '') {
      return invalid(`"${text}" has no local part`, 'has no local part (nothing before "@")', {
        hint: `write ${text.slice(1)} to match every address at that domain`,
        reasonHint: 'drop the "@" to match every address at that domain',
      });
    }
    if (domain === null) {
      return invalid(
        `"${text}" is not a valid mail address: "${text.slice(at + 1)}" is not a domain`,
        'is not a valid mail address: what follows the last "@" is not a domain',
      );
    }
    return { kind: 'address', address: `${local.toLowerCase()}@${domain}` };
  }
  if (text.includes(':') || /^[0-9./]+$/.test(text)) {
    const range = parseCidr(text);
    if (typeof range === 'string') return invalid(range, cidrReason(text));
    return { kind: 'ip', range };
  }
  let rest = text;
  let subdomains = false;
  if (rest.startsWith('*.')) {
    rest = rest.slice(2);
    subdomains = true;
  } else if (rest.startsWith('.')) {
    rest = rest.slice(1);
    subdomains = true;
  }
  if (rest.includes('*')) {
    const hint = 'use a regex (~ /.../) for other patterns';
    return invalid(`"${text}": only a leading "*." is supported as a wildcard`, 'has a "*" that is not a leading "*."', { hint, reasonHint: hint });
  }
  const domain = normalizeDomain(rest);
  if (domain === null) {
    return invalid(`"${text}" is not an IP address, address range, domain or mail address`, 'is not an IP address, address range, domain or mail address');
  }
  return { kind: 'domain', domain, subdomains };
}

export function describeItem(v: ItemValue): string {
  switch (v.kind) {
    case 'ip':
      return v.range.prefix === (v.range.family === 4 ? 32 : 128) ? 'an IP address' : 'an address range';
    case 'domain':
      return v.subdomains ? 'a domain pattern' : 'a domain';
    case 'address':
      return 'a mail address';
    case 'null-sender':
      return 'the null sender';
  }
}

/** Exact domains plus strict-subdomain suffixes; a lookup costs one probe per label. */
export class DomainSet {
  private readonly exact = new Set<string>();
  /** Stored with their leading dot: `.example.com`. */
  private readonly suffixes = new Set<string>();

  add(domain: string, subdomains: boolean): void {
    if (subdomains) this.suffixes.add(`.${domain}`);
    else this.exact.add(domain);
  }

  /** `name` must already be lower-case without a trailing dot. */
  hasExact(name: string): boolean {
    return this.exact.has(name);
  }

  /** `name` must already be lower-case without a trailing dot. */
  has(name: string): boolean {
    if (this.exact.has(name)) return true;
    if (this.suffixes.size === 0) return false;
    for (let i = name.indexOf('.'); i >= 0; i = name.indexOf('.', i + 1)) {
      if (this.suffixes.has(name.slice(i))) return true;
    }
    return false;
  }
}

function hostKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** A value matcher for one use of a list. Null input (field unknown) never matches. */
export type ValueMatcher = (value: string | null) => boolean;

/**
 * The valid items of one list, ready to match: built once per list, whatever
 * it is used with (items that do not fit a use make the rules fail to compile,
 * so they never need leaving out).
 */
export interface ListIndex {
  readonly ips: IpSet;
  readonly domains: DomainSet;
  readonly addresses: ReadonlySet<string>;
  readonly nullSender: boolean;
}

/** Collects items one at a time; `finish` sorts the address ranges (in slices). */
export class ListIndexBuilder {
  private readonly ips = new IpSetBuilder();
  private readonly domains = new DomainSet();
  private readonly addresses = new Set<string>();
  private nullSender = false;

  add(v: ItemValue): void {
    switch (v.kind) {
      case 'ip':
        this.ips.add(v.range);
        break;
      case 'domain':
        this.domains.add(v.domain, v.subdomains);
        break;
      case 'address':
        this.addresses.add(v.address);
        break;
      case 'null-sender':
        this.nullSender = true;
        break;
    }
  }

  *finish(pacer: Pacer = new Pacer()): Work<ListIndex> {
    const ips = yield* this.ips.finish(pacer);
    return { ips, domains: this.domains, addresses: this.addresses, nullSender: this.nullSender };
  }
}

/*
 * The matchers, one per way a field's value is compared with a list's
 * items. Each closes over the index once, at compile time; the empty string
 * (smtpd's local socket, a HELO never given) matches nothing but, for mail
 * addresses, the null sender.
 */

/** Client addresses against IP items. */
export function ipMatcher(index: ListIndex): ValueMatcher {
  const { ips } = index;
  return (value) => value !== null && value !== '' && ips.hasText(value);
}

/** Host names against domain items. */
export function hostMatcher(index: ListIndex): ValueMatcher {
  const { domains } = index;
  return (value) => value !== null && value !== '' && domains.has(hostKey(value));
}

/** HELO identities: address literals against IP items, names against domain items. */
export function heloMatcher(index: ListIndex): ValueMatcher {
  const { ips, domains } = index;
  return (value) => {
    if (value === null || value === '') return false;
    // An address literal: `[192.0.2.1]`, `[IPv6:2001:db8::1]`, or a bare address.
    let literal = value;
    if (literal.startsWith('[') && literal.endsWith(']')) literal = literal.slice(1, -1);
    if (/^ipv6:/i.test(literal)) literal = literal.slice(5);
    const ip = parseIp(literal);
    if (ip !== null) return ips.has(ip);
    return domains.has(hostKey(value));
  };
}

/** Mail addresses: exactly against address items, by their domain against domain items; `""` is the null sender. */
export function addressMatcher(index: ListIndex): ValueMatcher {
  const { domains, addresses, nullSender } = index;
  return (value) => {
    if (value === null) return false;
    if (value === '') return nullSender;
    const lower = hostKey(value);
    if (addresses.has(lower)) return true;
    const at = lower.lastIndexOf('@');
    return at >= 0 && domains.has(hostKey(lower.slice(at + 1)));
  };
}

/**
 * Whole words against exact domain items: TLS versions and cipher names
 * (`TLSv1.3`, `TLS_AES_256_GCM_SHA384`) are written like domain names, and
 * compared as a whole, without regard to case. Patterns never match here (the
 * field's row refuses them, E015).
 */
export function wordMatcher(index: ListIndex): ValueMatcher {
  const { domains } = index;
  return (value) => value !== null && value !== '' && domains.hasExact(hostKey(value));
}

/**
 * SMTP AUTH user names, compared whole and without regard to case: a name
 * with an `@` against the mail address items (`alice@example.com`), one
 * without against the exact domain items, which is how a bare name (`alice`,
 * `john.doe`) reads as an item. A domain never stands for the users at it.
 */
export function userMatcher(index: ListIndex): ValueMatcher {
  const { domains, addresses } = index;
  return (value) => {
    if (value === null || value === '') return false;
    const lower = hostKey(value);
    return lower.includes('@') ? addresses.has(lower) : domains.hasExact(lower);
  };
}
