/**
 * What the authentication steps (issue 14) found for the current
 * transaction: the `spf` and `spf-helo` conditions read it. The runtime keeps
 * one per session and clears it when a transaction ends (a new MAIL FROM is a
 * new sender to check); the steps write it, the conditions only read it.
 * Mutable, like SessionDnsLists: a step's result is seen by the next step of
 * the same request.
 */

/** RFC 7208 §2.6's results, in its order. */
export const SPF_RESULTS = ['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror'] as const;

export type SpfResult = (typeof SPF_RESULTS)[number];

export function isSpfResult(word: string): word is SpfResult {
  return (SPF_RESULTS as readonly string[]).includes(word);
}

/** The two SPF identities (RFC 7208 §2.3, §2.4). */
export type SpfIdentity = 'mailfrom' | 'helo';

/** What conditions read. */
export interface AuthFacts {
  spf(identity: SpfIdentity): SpfResult | null;
}

export class SessionAuth implements AuthFacts {
  private readonly spfResults = new Map<SpfIdentity, SpfResult>();

  spf(identity: SpfIdentity): SpfResult | null {
    return this.spfResults.get(identity) ?? null;
  }

  recordSpf(identity: SpfIdentity, result: SpfResult): void {
    this.spfResults.set(identity, result);
  }

  /** The transaction ended: its results go with it. */
  clear(): void {
    this.spfResults.clear();
  }
}
