/**
 * The DNS clients of one process, one per resolver (`system` for
 * resolv.conf's): the DNS lists and the authentication steps share them, so
 * they share one cache, one set of queries in flight and one set of
 * counters. The services of one process are made from one ServiceDeps
 * object; `dnsClientsOf` keys the registry by it, so every service made
 * from it gets the same one without the wiring knowing.
 */
import type { Clock } from '../support/clock.js';
import { DnsClient } from './client.js';
import { nodeTransport } from './node-transport.js';
import { formatResolverAddress, type ResolverAddress } from './resolver-address.js';
import type { DnsTransport } from './types.js';

export interface DnsClientsOptions {
  readonly clock: Clock;
  /** The transport to a resolver (tests: a fake, or a test server); default node:dns. */
  readonly transport?: (resolver: ResolverAddress | null) => DnsTransport;
  readonly maxCacheEntries?: number;
}

export class DnsClients {
  private readonly clients = new Map<string, DnsClient>();

  constructor(private readonly options: DnsClientsOptions) {}

  /** The client of each resolver in use, for metrics and status. */
  get all(): ReadonlyMap<string, DnsClient> {
    return this.clients;
  }

  clientFor(resolver: ResolverAddress | null): DnsClient {
    const key = resolver === null ? 'system' : formatResolverAddress(resolver);
    let client = this.clients.get(key);
    if (client === undefined) {
      const o = this.options;
      const transport = o.transport?.(resolver) ?? nodeTransport(resolver === null ? {} : { server: resolver });
      client = new DnsClient({ transport, clock: o.clock, ...(o.maxCacheEntries === undefined ? {} : { maxCacheEntries: o.maxCacheEntries }) });
      this.clients.set(key, client);
    }
    return client;
  }
}

const SHARED = new WeakMap<object, DnsClients>();

/** The registry of everything made from `owner` (a ServiceDeps): made once, by `make`. */
export function dnsClientsOf(owner: object, make: () => DnsClients): DnsClients {
  let clients = SHARED.get(owner);
  if (clients === undefined) {
    clients = make();
    SHARED.set(owner, clients);
  }
  return clients;
}
