/**
 * The I/O edge: queries through node:dns's Resolver (c-ares), the system's
 * resolvers from /etc/resolv.conf, or a dedicated one. Its timeout is per try,
 * not per lookup (200 ms × 3 tries took about 2 s here), so the client
 * (client.ts) keeps a deadline of its own; this only maps answers and errors
 * to outcomes.
 */
import { Resolver } from 'node:dns/promises';
import { formatResolverAddress, type ResolverAddress } from './resolver-address.js';
import type { DnsErrorKind, DnsOutcome, DnsTransport, RecordsOf, RrType } from './types.js';

export interface NodeTransportOptions {
  /** A dedicated resolver; the system's (resolv.conf) when absent. */
  readonly server?: ResolverAddress;
  /** c-ares's per-try timeout and tries; the client's deadline bounds the whole. */
  readonly tryTimeoutMs?: number;
  readonly tries?: number;
}

export function nodeTransport(options: NodeTransportOptions = {}): DnsTransport & { readonly servers: readonly string[] } {
  const resolver = new Resolver({ timeout: options.tryTimeoutMs ?? 1000, tries: options.tries ?? 2 });
  if (options.server !== undefined) resolver.setServers([formatResolverAddress(options.server)]);
  return {
    servers: resolver.getServers(),
    async query<T extends RrType>(name: string, type: T): Promise<DnsOutcome<T>> {
      try {
        return await ask(resolver, name, type);
      } catch (e) {
        return outcomeOfError(e) as DnsOutcome<T>;
      }
    },
  };
}

async function ask<T extends RrType>(resolver: Resolver, name: string, type: T): Promise<DnsOutcome<T>> {
  const answer = <R extends RrType>(records: RecordsOf[R], ttlSeconds: number | undefined): DnsOutcome<T> =>
    ({ kind: 'answer', records, ttlSeconds }) as unknown as DnsOutcome<T>;
  switch (type) {
    case 'A':
    case 'AAAA': {
      const rs = type === 'A' ? await resolver.resolve4(name, { ttl: true }) : await resolver.resolve6(name, { ttl: true });
      return answer(
        rs.map((r) => r.address),
        rs.length === 0 ? undefined : Math.min(...rs.map((r) => r.ttl)),
      );
    }
    case 'TXT':
      return answer(await resolver.resolveTxt(name), undefined);
    case 'MX':
      return answer(await resolver.resolveMx(name), undefined);
    case 'PTR':
      return answer(await resolver.resolvePtr(name), undefined);
  }
  const unknownType: never = type;
  throw new Error(`unknown record type ${String(unknownType)}`);
}

/** c-ares's error codes, as node:dns names them, to our outcomes. */
export function outcomeOfError(e: unknown): DnsOutcome {
  const code = typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : 'EUNKNOWN';
  if (code === 'ENOTFOUND') return { kind: 'nxdomain' };
  if (code === 'ENODATA') return { kind: 'nodata' };
  return { kind: 'error', error: errorKindOf(code), code };
}

function errorKindOf(code: string): DnsErrorKind {
  switch (code) {
    case 'ETIMEOUT':
    case 'ECANCELLED':
      return 'timeout';
    case 'ESERVFAIL':
      return 'servfail';
    case 'EREFUSED':
      return 'refused';
    case 'ECONNREFUSED':
      return 'unreachable';
    case 'EFORMERR':
    case 'EBADRESP':
    case 'EBADNAME':
    case 'EBADQUERY':
    case 'EBADFAMILY':
      return 'malformed';
    default:
      return 'other';
  }
}
