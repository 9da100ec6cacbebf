/**
 * The policy clients of the running filter, one per server address, shared
 * by every step that names that address. It outlives rule reloads: a new
 * rule set reuses the clients (and their open connections) of the old one,
 * and after a reload `closeUnused` retires the addresses no rule names any
 * more. Runners look their client up on every run, so a session still
 * running under the old rules simply gets a fresh client if it needs one.
 */
import { formatPolicyAddress, type PolicyAddress } from '../model/address.js';
import type { Clock } from '../support/clock.js';
import type { Logger } from '../support/log.js';
import { PolicyClient, type PolicyClientOptions } from './client.js';
import type { PolicyConnector } from './connection.js';

/** Pool and backoff settings applied to every client (see PolicyClientOptions). */
export type PolicyClientSettings = Omit<PolicyClientOptions, 'address' | 'connect' | 'clock' | 'log'>;

export interface PolicyClientsDeps {
  readonly connect: PolicyConnector;
  readonly clock: Clock;
  readonly log: Logger;
  readonly settings?: PolicyClientSettings;
}

export class PolicyClients {
  private readonly clients = new Map<string, PolicyClient>();

  constructor(private readonly deps: PolicyClientsDeps) {}

  /** The client for an address, created on first use. */
  get(address: PolicyAddress): PolicyClient {
    const key = formatPolicyAddress(address);
    let client = this.clients.get(key);
    if (!client) {
      client = new PolicyClient({
        ...this.deps.settings,
        address,
        connect: this.deps.connect,
        clock: this.deps.clock,
        log: this.deps.log,
      });
      this.clients.set(key, client);
    }
    return client;
  }

  /** Addresses with a client, formatted (`unix:/path`, `tcp:host:port`). */
  keys(): string[] {
    return [...this.clients.keys()];
  }

  /** Gracefully close the clients of addresses not in `inUse` (after a reload). */
  closeUnused(inUse: Iterable<PolicyAddress | string>): void {
    const keep = new Set<string>();
    for (const a of inUse) keep.add(typeof a === 'string' ? a : formatPolicyAddress(a));
    for (const [key, client] of this.clients) {
      if (!keep.has(key)) {
        this.clients.delete(key);
        client.close();
      }
    }
  }

  /** Gracefully close every client (stdin EOF): requests in flight still finish. */
  closeAll(): void {
    this.closeUnused([]);
  }

  /** Close everything now; pending requests fail. */
  destroyAll(): void {
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }
}
