/**
 * What the DNS-list steps found for one session, by list name: what the
 * `listed` and `dns-error` conditions read, and the lookups started at
 * connect for the steps to pick up (issue 12). The runtime keeps one per
 * session; the steps write it, the conditions only read it. Mutable, unlike
 * the rest of SessionFacts: a step's result is seen by the next step of the
 * same request.
 */

export type DnsListResult =
  | { readonly status: 'listed'; readonly codes: readonly string[] }
  | { readonly status: 'clear' }
  | { readonly status: 'error'; readonly error: string };

/** A DNS list's health (dns/health.ts): degraded lists add no weight. */
export type DnsListHealthState = 'up' | 'degraded';

/** Observers of the DNS lists' lookups and health (metrics), by the list's display name, never its zone. */
export interface DnsListEvents {
  /** A step's lookup ended: `error` is the error kind (dns/classify.ts's ListErrorKind), null for a listing or a clear answer. */
  looked?(list: string, result: 'listed' | 'clear' | 'error', error: string | null, seconds: number): void;
  /** The list is known (the rules name it), or its health changed. */
  health?(list: string, state: DnsListHealthState): void;
  /** The rules no longer name the list. */
  forgotten?(list: string): void;
}

/** What conditions read. */
export interface DnsListFacts {
  result(list: string): DnsListResult | undefined;
  names(status: 'listed' | 'error'): readonly string[];
}

export class SessionDnsLists implements DnsListFacts {
  private readonly results = new Map<string, DnsListResult>();
  private readonly started = new Map<string, Promise<unknown>>();

  result(list: string): DnsListResult | undefined {
    return this.results.get(list);
  }

  record(list: string, result: DnsListResult): void {
    this.results.set(list, result);
  }

  /** The lists that listed the client, each as NAME and NAME.CODE per code; or the lists that failed. */
  names(status: 'listed' | 'error'): readonly string[] {
    const out: string[] = [];
    for (const [name, r] of this.results) {
      if (r.status !== status) continue;
      out.push(name);
      if (r.status === 'listed') for (const code of r.codes) out.push(`${name}.${code}`);
    }
    return out;
  }

  /** A lookup started early (at connect) under `key`, for the step that owns it. */
  start<T>(key: string, lookup: () => Promise<T>): Promise<T> {
    const had = this.started.get(key) as Promise<T> | undefined;
    if (had !== undefined) return had;
    const p = lookup();
    this.started.set(key, p);
    return p;
  }

  /** The lookup started under `key`, or one started now. */
  take<T>(key: string, lookup: () => Promise<T>): Promise<T> {
    return this.start(key, lookup);
  }
}
