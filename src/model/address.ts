/**
 * Where a policy server listens (`postgrey ADDRESS`, `policy ADDRESS`), and
 * its one parser and one formatter. The rules pipeline parses what was
 * written; the policy client, the metrics and the reload diff print it back
 * with `formatPolicyAddress`, whose string is also the key clients are pooled
 * under, so one server written two ways (`inet:` and `tcp:`) shares a pool.
 * Pure: the parser's problems are sentences for E024, which the checker locates.
 */
import { closest } from '../support/closest.js';
import { parseIp } from '../support/net.js';
import { bad, good, type Parsed } from '../support/result.js';

export type PolicyAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/** The canonical spelling, one the rules can write back: `unix:/path`, `tcp:host:port`, `tcp:[v6]:port`. */
export function formatPolicyAddress(address: PolicyAddress): string {
  switch (address.kind) {
    case 'unix':
      return `unix:${address.path}`;
    case 'tcp':
      return address.host.includes(':') ? `tcp:[${address.host}]:${address.port}` : `tcp:${address.host}:${address.port}`;
  }
}

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;
const ADDRESS_HINT = 'write unix:/absolute/path, tcp:host:port (inet:host:port, as in Postfix, is the same) or tcp:[ipv6]:port';
/** Postfix spells TCP policy servers `inet:host:port` (check_policy_service inet:127.0.0.1:10023): an alias of `tcp:`. */
const SCHEMES = ['unix', 'tcp', 'inet'] as const;

function parsePort(text: string, whole: string): Parsed<number> {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    return bad(`"${whole}" has an invalid port "${text}": a port is a number from 1 to 65535`, ADDRESS_HINT);
  }
  return good(Number(text));
}

/**
 * `unix:/path`, `tcp:host:port`, `tcp:[v6]:port`; `inet:` is Postfix's name
 * for `tcp:` and gives the same address (printed back as `tcp:`).
 */
export function parsePolicyAddress(text: string): Parsed<PolicyAddress> {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (!path.startsWith('/')) return bad(`"${text}" must name an absolute socket path`, 'the filter runs with / as its working directory; write unix:/run/postgrey/postgrey.sock');
    if (/[\0\r\n]/.test(path)) return bad(`"${text}" contains a control character`);
    return good({ kind: 'unix', path });
  }
  if (text.startsWith('tcp:') || text.startsWith('inet:')) {
    const rest = text.slice(text.indexOf(':') + 1);
    let host: string;
    let portText: string;
    if (rest.startsWith('[')) {
      const close = rest.indexOf(']');
      if (close < 0 || rest[close + 1] !== ':') return bad(`"${text}" is not a valid address`, ADDRESS_HINT);
      host = rest.slice(1, close);
      portText = rest.slice(close + 2);
      const ip = parseIp(host);
      if (ip === null || !host.includes(':')) return bad(`"${host}" in "${text}" is not an IPv6 address`, ADDRESS_HINT);
    } else {
      const colon = rest.lastIndexOf(':');
      if (colon < 0) return bad(`"${text}" has no port`, ADDRESS_HINT);
      host = rest.slice(0, colon);
      portText = rest.slice(colon + 1);
      if (host.includes(':')) return bad(`"${text}": put an IPv6 address in brackets`, 'e.g. tcp:[::1]:10023');
      if (!HOSTNAME.test(host)) return bad(`"${host}" in "${text}" is not a host name or IPv4 address`, ADDRESS_HINT);
    }
    const port = parsePort(portText, text);
    if (!port.ok) return port;
    return good({ kind: 'tcp', host, port: port.value });
  }
  const colon = text.indexOf(':');
  const scheme = colon > 0 ? text.slice(0, colon) : null;
  const near = scheme === null ? null : closest(scheme, SCHEMES);
  if (scheme !== null && near !== null) {
    return bad(`"${text}" is not a policy server address (unknown kind "${scheme}:")`, `did you mean "${near}${text.slice(colon)}"?`);
  }
  return bad(`"${text}" is not a policy server address`, ADDRESS_HINT);
}
