/**
 * A transport that answers from a table of records at once, as a real zone
 * would (NXDOMAIN for a name it does not hold, NODATA for a type it does not
 * have), with names that fail (SERVFAIL) or never answer (a silent server).
 */
import type { DnsOutcome, DnsTransport, RecordsOf, RrType } from '../../../src/dns/types.js';

export type Zone = Readonly<Record<string, Partial<{ readonly [T in RrType]: RecordsOf[T] }>>>;

export class ZoneTransport implements DnsTransport {
  readonly asked: string[] = [];

  constructor(
    private readonly zone: Zone,
    private readonly broken: { readonly servfail?: readonly string[]; readonly silent?: readonly string[] } = {},
  ) {}

  query<T extends RrType>(name: string, type: T): Promise<DnsOutcome<T>> {
    const key = name.toLowerCase().replace(/\.$/, '');
    this.asked.push(`${type} ${key}`);
    if (this.broken.silent?.includes(key) === true) return new Promise(() => {});
    if (this.broken.servfail?.includes(key) === true) return Promise.resolve({ kind: 'error', error: 'servfail', code: 'ESERVFAIL' });
    const node = this.zone[key];
    if (node === undefined) return Promise.resolve({ kind: 'nxdomain' });
    const records = node[type];
    if (records === undefined || records.length === 0) return Promise.resolve({ kind: 'nodata' });
    return Promise.resolve({ kind: 'answer', records, ttlSeconds: 300 } as DnsOutcome<T>);
  }
}

/** A TXT record of one string. */
export const txt = (...records: string[]): RecordsOf['TXT'] => records.map((r) => [r]);
