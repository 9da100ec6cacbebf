/**
 * The name a DNS list is asked for a client address (RFC 5782 §2.1, §2.4):
 * IPv4 octets reversed, IPv6 as 32 nibbles reversed. An IPv4-mapped IPv6
 * address (`::ffff:192.0.2.1`, as a dual-stack socket reports IPv4) is asked
 * as IPv4: that is where the lists keep it.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface ClientQuery {
  readonly family: 4 | 6;
  /** The reversed part, without the list's zone: `1.2.0.192`. */
  readonly reversed: string;
  /** The address as looked up (a mapped IPv6 address as its IPv4). */
  readonly address: string;
}

/** The reversed name of `address`, or null for what is no address (smtpd's local socket, `unknown`). */
export function clientQuery(address: string): ClientQuery | null {
  if (isIPv4(address)) return ipv4Query(address);
  if (!isIPv6(address)) return null;
  const groups = expandIpv6(address);
  if (groups === null) return null;
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) {
    const hi = groups[6] ?? 0;
    const lo = groups[7] ?? 0;
    return ipv4Query(`${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`);
  }
  const nibbles = groups.flatMap((g) => [g >> 12, (g >> 8) & 0xf, (g >> 4) & 0xf, g & 0xf].map((n) => n.toString(16)));
  return { family: 6, reversed: nibbles.reverse().join('.'), address };
}

function ipv4Query(address: string): ClientQuery {
  return { family: 4, reversed: address.split('.').reverse().join('.'), address };
}

/** The eight 16-bit groups of a valid IPv6 address (node:net said it is one), an IPv4 tail included. */
export function expandIpv6(address: string): number[] | null {
  let text = address.replace(/%.*$/, '');
  const v4Tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4Tail) {
    const [a, b, c, d] = v4Tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4Tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string | undefined): number[] => (part === undefined || part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}
