/**
 * A dedicated resolver's address, as a person writes it: `127.0.0.1:5353`,
 * `[::1]:5353`, or an address alone (port 53). node:dns takes IP addresses
 * only (it has no resolver to resolve the resolver), so a host name is refused.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { bad, good, type Parsed } from '../support/result.js';

export interface ResolverAddress {
  readonly host: string;
  readonly port: number;
}

const DNS_PORT = 53;

export function parseResolverAddress(text: string): Parsed<ResolverAddress> {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    const host = bracketed[1] ?? '';
    if (!isIPv6(host)) return bad(`"${host}" is not an IPv6 address`, 'write [IPv6]:PORT, as in [::1]:5353');
    return withPort(host, bracketed[2]);
  }
  if (isIPv6(text)) return good({ host: text, port: DNS_PORT });
  const hostPort = /^([^:]+)(?::(\d+))?$/.exec(text);
  if (hostPort && isIPv4(hostPort[1] ?? '')) return withPort(hostPort[1] ?? '', hostPort[2]);
  return bad(`"${text}" is not a resolver address`, 'write an IP address and an optional port: 127.0.0.1:5353 or [::1]:5353');
}

function withPort(host: string, port: string | undefined): Parsed<ResolverAddress> {
  if (port === undefined) return good({ host, port: DNS_PORT });
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535) return bad(`port ${port} is out of range`, 'a port is 1 … 65535');
  return good({ host, port: n });
}

/** The form node:dns's setServers takes (and the one logs show). */
export function formatResolverAddress(a: ResolverAddress): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return a.port === DNS_PORT && !a.host.includes(':') ? host : `${host}:${a.port}`;
}
