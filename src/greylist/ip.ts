/**
 * Client addresses → the network a greylist triplet is keyed on.
 *
 * Postgrey groups clients by network (`--lookup-by-subnet`, `--ipv4cidr` 24,
 * `--ipv6cidr` 64) because big senders retry from another host of the same
 * pool. Parsing and formatting are support/net.ts's (one IP implementation for
 * the whole filter); this module only adds the masking and the smtpd-side
 * tolerance for `IPv6:` literals and stray whitespace.
 */
import { formatIp as formatNetIp, parseIp as parseNetIp, type IpAddress } from '../support/net.js';

export type { IpAddress } from '../support/net.js';

/**
 * Parse a client address as smtpd reports it (no port). Accepts brackets, an
 * `IPv6:` tag and a zone suffix defensively. IPv4-mapped IPv6
 * (`::ffff:a.b.c.d`) is the IPv4 client it stands for, so it groups with the
 * same /24 as plain IPv4 and shares its auto-whitelist record. (postgrey
 * differs: NetAddr::IP calls it IPv6, and its /64 is `::`, one network for
 * every mapped client. Ours is what the address means.)
 */
export function parseIp(text: string): IpAddress | null {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (s.toLowerCase().startsWith('ipv6:')) s = s.slice(5);
  return parseNetIp(s);
}

/** Keep the first `prefix` bits, zero the rest. */
export function maskIp(ip: IpAddress, prefix: number): IpAddress {
  const total = ip.family === 4 ? 32 : 128;
  const bits = Math.max(0, Math.min(total, Math.trunc(prefix)));
  const hostMask = (1n << BigInt(total - bits)) - 1n;
  return { family: ip.family, value: ip.value & ~hostMask };
}

/** Dotted quad, or RFC 5952 text for IPv6 (lower case, longest zero run as `::`). */
export const formatIp = formatNetIp;

export interface NetworkPrefixes {
  readonly ipv4Prefix: number;
  readonly ipv6Prefix: number;
}

/** The network part of a client address, postgrey-style: `192.0.2.0`, `2001:db8:1:2::`. */
export function networkOf(ip: IpAddress, prefixes: NetworkPrefixes): string {
  return formatIp(maskIp(ip, ip.family === 4 ? prefixes.ipv4Prefix : prefixes.ipv6Prefix));
}
