/**
 * A fake kernel for the socket-table watcher: rows per connection, rendered
 * as /proc/net/tcp text on each read (IPv4 rows; tcp6 is empty).
 */
import { rowKeys, type Endpoints, type TableName } from '../../../src/support/proc-net-tcp.js';

export const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

/** Connection number n: client 127.0.0.n, port 40000+n, to 127.0.0.1:2525. */
export const conn = (n: number): Endpoints => ({ src: `127.0.0.${n}`, srcPort: 40000 + n, dest: '127.0.0.1', destPort: 2525 });

export class FakeTables {
  /** By connection number: `st` (0x01 ESTABLISHED, 0x08 CLOSE_WAIT) and rx_queue bytes. */
  readonly rows = new Map<number, { st: number; rx: number }>();
  reads: TableName[] = [];
  fail: Error | null = null;

  /** `endpoints` maps a connection number to its addresses (default: conn). */
  constructor(private readonly endpoints: (n: number) => Endpoints = conn) {}

  read = async (table: TableName): Promise<string | null> => {
    this.reads.push(table);
    if (this.fail !== null) throw this.fail;
    if (table === 'tcp6') return `${HEADER}\n`;
    const lines = [HEADER];
    let i = 0;
    for (const [n, r] of this.rows) {
      const key = rowKeys(this.endpoints(n))?.tcp ?? '';
      lines.push(`${String(i++).padStart(4)}: ${key} ${r.st.toString(16).toUpperCase().padStart(2, '0')} 00000000:${r.rx.toString(16).toUpperCase().padStart(8, '0')} 00:00000000 00000000   102        0 1 1 0 20 4 30 10 -1`);
    }
    return `${lines.join('\n')}\n`;
  };
}
