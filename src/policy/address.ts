/**
 * Policy server addresses as people write them: `unix:/path` or
 * `tcp:host:port` (IPv6 hosts in brackets, `tcp:[::1]:10023`). The formatted
 * string is also the key under which clients are pooled, so one address
 * written two ways (`tcp:[::1]:1` vs the same parsed value) shares a pool.
 */
import type { PolicyAddress } from '../model/address.js';
import { err, ok, type Result } from '../support/result.js';

export type { PolicyAddress };

export function formatPolicyAddress(address: PolicyAddress): string {
  switch (address.kind) {
    case 'unix':
      return `unix:${address.path}`;
    case 'tcp':
      return address.host.includes(':') ? `tcp:[${address.host}]:${address.port}` : `tcp:${address.host}:${address.port}`;
  }
}

/** Parse `unix:/abs/path`, `tcp:host:port` or `tcp:[v6]:port`; the error is a sentence for a diagnostic. */
export function parsePolicyAddress(text: string): Result<PolicyAddress, string> {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (!path.startsWith('/')) {
      return err(`socket path must be absolute (the filter runs with cwd "/"): "${text}"`);
    }
    if (/[\0\n\r]/.test(path)) return err('socket path contains a control character');
    return ok({ kind: 'unix', path });
  }
  if (text.startsWith('tcp:')) {
    const rest = text.slice('tcp:'.length);
    let host: string;
    let portText: string;
    if (rest.startsWith('[')) {
      const close = rest.indexOf(']');
      if (close < 0 || rest[close + 1] !== ':') return err(`expected tcp:[IPv6]:PORT, got "${text}"`);
      host = rest.slice(1, close);
      portText = rest.slice(close + 2);
    } else {
      const colon = rest.lastIndexOf(':');
      if (colon < 0) return err(`expected tcp:HOST:PORT, got "${text}"`);
      host = rest.slice(0, colon);
      portText = rest.slice(colon + 1);
      if (host.includes(':')) return err(`an IPv6 address must be in brackets: tcp:[${host}]:${portText}`);
    }
    if (host === '' || !/^[A-Za-z0-9.:_%-]+$/.test(host)) return err(`bad host in "${text}"`);
    if (!/^[0-9]{1,5}$/.test(portText)) return err(`bad port in "${text}"`);
    const port = Number(portText);
    if (port < 1 || port > 65535) return err(`port out of range (1-65535) in "${text}"`);
    return ok({ kind: 'tcp', host, port });
  }
  return err(`policy address must start with "unix:" or "tcp:", got "${text}"`);
}
