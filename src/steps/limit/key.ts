/**
 * A limit's key for one event: the values of its parts in this session,
 * joined into the text the counter is stored under. The client address is
 * grouped by its prefix (greylist/ip.ts); addresses and names are lowercased;
 * a value smtpd has not told (no PTR, no HELO) is `unknown`, so such clients
 * share one counter rather than escape the limit. A session without an
 * authenticated user has no `auth-user` key: a limit per user does not apply.
 */
import { networkOf, parseIp } from '../../greylist/ip.js';
import { formatLimitKey, type LimitKey, type LimitKeyPart } from '../../model/limits.js';
import type { SessionFacts } from '../../model/plan.js';

const domainOf = (address: string): string => {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1);
};

/** The PTR name without its first label: mail7.example.org → example.org. */
const rdnsDomain = (name: string): string => {
  const dot = name.indexOf('.');
  return dot < 0 ? name : name.slice(dot + 1);
};

const stripBrackets = (a: string): string => (a.startsWith('<') && a.endsWith('>') ? a.slice(1, -1) : a);

/** The value of one part; null: the key does not apply to this event. */
function valueOf(part: LimitKeyPart, facts: SessionFacts, recipient: string | null): string | null {
  switch (part.kind) {
    case 'src': {
      const ip = parseIp(facts.src);
      if (ip === null) return facts.src === '' ? 'local' : facts.src;
      return `${networkOf(ip, part)}/${ip.family === 4 ? part.ipv4Prefix : part.ipv6Prefix}`;
    }
    case 'rdns':
      return facts.rdns === null ? 'unknown' : rdnsDomain(facts.rdns.toLowerCase().replace(/\.$/, ''));
    case 'helo':
      return facts.helo === null ? 'unknown' : facts.helo.toLowerCase();
    case 'sender':
      return facts.mailFrom === null ? null : stripBrackets(facts.mailFrom).toLowerCase();
    case 'sender-domain':
      return facts.mailFrom === null ? null : domainOf(stripBrackets(facts.mailFrom).toLowerCase());
    case 'auth-user':
      return facts.authUser;
    case 'recipient':
      return recipient === null ? null : stripBrackets(recipient).toLowerCase();
    case 'recipient-domain':
      return recipient === null ? null : domainOf(stripBrackets(recipient).toLowerCase());
  }
}

/**
 * `prefix|part=value|…` for this event, or null when a part has no value.
 * `prefix` names the limit (its count, rate and key), so two limits never
 * share a counter unless they are the same limit.
 */
export function limitKeyOf(prefix: string, key: LimitKey, facts: SessionFacts, recipient: string | null): string | null {
  const values: string[] = [];
  for (const part of key) {
    const v = valueOf(part, facts, recipient);
    if (v === null) return null;
    // `|` separates the parts: a value cannot forge another part.
    values.push(v.replace(/[|\s]/g, '_'));
  }
  return [prefix, ...values].join('|');
}

export const keyName = (key: LimitKey): string => formatLimitKey(key);
