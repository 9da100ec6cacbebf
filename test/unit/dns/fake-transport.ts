/** A transport whose queries wait until the test answers them, each by name and type. */
import type { DnsOutcome, DnsTransport, RrType } from '../../../src/dns/types.js';

export interface AskedQuery {
  readonly name: string;
  readonly type: RrType;
  answer(outcome: DnsOutcome): void;
}

export class FakeTransport implements DnsTransport {
  readonly asked: AskedQuery[] = [];

  query<T extends RrType>(name: string, type: T): Promise<DnsOutcome<T>> {
    return new Promise((resolve) => {
      this.asked.push({ name, type, answer: (o) => resolve(o as DnsOutcome<T>) });
    });
  }

  /** Answer the oldest open query for `name`. */
  answer(name: string, outcome: DnsOutcome): void {
    const i = this.asked.findIndex((q) => q.name === name);
    const q = this.asked[i];
    if (q === undefined) throw new Error(`no query for ${name}`);
    this.asked.splice(i, 1);
    q.answer(outcome);
  }
}

/** Let settled promises run their callbacks. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export const a = (ttlSeconds: number | undefined, ...records: string[]): DnsOutcome => ({ kind: 'answer', records, ttlSeconds });
