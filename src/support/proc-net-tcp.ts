/**
 * Linux's socket tables, /proc/net/tcp and /proc/net/tcp6, read without
 * parsing every field of every row: a paused session asks "did the client of
 * this connection send bytes, or hang up?", and the answer is in three
 * fields of one row (protocol.md §7.3).
 *
 *     sl  local_address rem_address   st tx_queue rx_queue ...
 *      2: 0000000000000000FFFF00000100007F:09DD 0000000000000000FFFF00000600007F:C350 01 00000000:0000000C ...
 *
 * - Addresses are hex of the raw bytes, printed one 32-bit word at a time in
 *   host order: on little-endian machines (nearly every Linux server)
 *   each 4-byte group appears reversed (`127.0.0.1` → `0100007F`). Ports are
 *   plain big-endian hex (`2525` → `09DD`).
 * - An IPv4 client of a dual-stack (`::`) listener is an IPv6 socket whose
 *   addresses are `::ffff:a.b.c.d`, in tcp6.
 * - `st` 01 is ESTABLISHED, 08 CLOSE_WAIT (the client sent FIN: it is gone);
 *   `rx_queue` counts bytes received and not yet read by smtpd (a FIN counts
 *   one in CLOSE_WAIT).
 *
 * So a connection is found by its exact `local rem` text, which is computed
 * once per watched connection; scanning a table is then one substring and
 * one map lookup per row.
 */
import { endianness } from 'node:os';
import { parseIp, type IpAddress } from './net.js';

export type Endianness = 'LE' | 'BE';
const HOST_ENDIANNESS: Endianness = endianness();

/** TCP states we act on (include/net/tcp_states.h). */
export const TCP_ESTABLISHED = 0x01;
export const TCP_CLOSE_WAIT = 0x08;

export interface Endpoints {
  /** Client address, as in link-connect (no brackets, no port). */
  readonly src: string;
  readonly srcPort: number;
  /** The local (listener's) address. */
  readonly dest: string;
  readonly destPort: number;
}

/** One connection's row, as much as we read of it. */
export interface SocketRow {
  /** `st`, e.g. 0x01 ESTABLISHED, 0x08 CLOSE_WAIT. */
  readonly state: number;
  /** Bytes received and not read yet (including one for a received FIN). */
  readonly rxQueue: number;
}

function hex8(n: number): string {
  return n.toString(16).toUpperCase().padStart(8, '0');
}

/** One 32-bit word of address bytes as the kernel prints it (`%08X` of the word in host order). */
function word(b0: number, b1: number, b2: number, b3: number, order: Endianness): string {
  const value = order === 'LE' ? (b3 << 24) | (b2 << 16) | (b1 << 8) | b0 : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
  return hex8(value >>> 0);
}

function bytesOf(ip: IpAddress): number[] {
  const n = ip.family === 4 ? 4 : 16;
  const out = new Array<number>(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function encodeBytes(bytes: readonly number[], order: Endianness): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4) s += word(bytes[i] ?? 0, bytes[i + 1] ?? 0, bytes[i + 2] ?? 0, bytes[i + 3] ?? 0, order);
  return s;
}

function encodePort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

/** The address as it appears in /proc/net/tcp (IPv4) or /proc/net/tcp6 (IPv6). */
export function encodeProcAddress(ip: IpAddress, order: Endianness = HOST_ENDIANNESS): string {
  return encodeBytes(bytesOf(ip), order);
}

/** An IPv4 address as an IPv4-mapped IPv6 address in /proc/net/tcp6. */
export function encodeMappedV4(ip: IpAddress, order: Endianness = HOST_ENDIANNESS): string {
  if (ip.family !== 4) throw new RangeError('encodeMappedV4: not an IPv4 address');
  return encodeBytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...bytesOf(ip)], order);
}

export interface RowKeys {
  /** The `local rem` text in /proc/net/tcp, for an IPv4 connection. */
  readonly tcp: string | null;
  /** The `local rem` text in /proc/net/tcp6 (IPv6, or IPv4 on a dual-stack listener). */
  readonly tcp6: string;
}

/**
 * Where a connection's row can be, by the exact text of its local and remote
 * address fields. Null when the endpoints are not two IP addresses of one
 * family with ports (the local socket, a malformed report).
 */
export function rowKeys(e: Endpoints, order: Endianness = HOST_ENDIANNESS): RowKeys | null {
  const src = parseIp(e.src);
  const dest = parseIp(e.dest);
  if (src === null || dest === null || src.family !== dest.family) return null;
  if (!validPort(e.srcPort) || !validPort(e.destPort)) return null;
  const sp = encodePort(e.srcPort);
  const dp = encodePort(e.destPort);
  if (src.family === 4) {
    return {
      tcp: `${encodeProcAddress(dest, order)}:${dp} ${encodeProcAddress(src, order)}:${sp}`,
      tcp6: `${encodeMappedV4(dest, order)}:${dp} ${encodeMappedV4(src, order)}:${sp}`,
    };
  }
  return { tcp: null, tcp6: `${encodeProcAddress(dest, order)}:${dp} ${encodeProcAddress(src, order)}:${sp}` };
}

function validPort(p: number): boolean {
  return Number.isInteger(p) && p > 0 && p < 65536;
}

/** Width of `local rem` in each table: two `ADDR:PORT` fields and a space. */
const KEY_WIDTH = { tcp: 2 * (8 + 1 + 4) + 1, tcp6: 2 * (32 + 1 + 4) + 1 } as const;

export type TableName = keyof typeof KEY_WIDTH;

const HEX_DIGIT = /^[0-9A-Fa-f]+$/;

/**
 * Look up the rows of `wanted` (keyed by `local rem` text) in one table's
 * text. Calls `found` for each wanted row present; rows nobody wants cost one
 * substring and one map lookup. The header line and malformed rows are
 * skipped. Returns the number of rows seen (for tests and debug logs).
 */
export function scanSocketTable<T>(
  table: TableName,
  text: string,
  wanted: ReadonlyMap<string, T>,
  found: (watch: T, row: SocketRow) => void,
): number {
  const width = KEY_WIDTH[table];
  let rows = 0;
  let start = text.indexOf('\n') + 1; // skip the header
  if (start === 0) return 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    // "%4d: " then the key; `sl` is right-aligned to at least 4 characters.
    const colon = text.indexOf(': ', start);
    if (colon >= 0 && colon < end) {
      rows++;
      const keyStart = colon + 2;
      if (wanted.size > 0) {
        const key = text.slice(keyStart, keyStart + width);
        const watch = wanted.get(key);
        if (watch !== undefined) {
          const row = parseRowTail(text, keyStart + width, end);
          if (row !== null) found(watch, row);
        }
      }
    }
    start = end + 1;
  }
  return rows;
}

/** ` st tx_queue:rx_queue` right after the key. */
function parseRowTail(text: string, at: number, end: number): SocketRow | null {
  // " 01 00000000:0000000C"
  if (at + 21 > end || text[at] !== ' ' || text[at + 3] !== ' ' || text[at + 12] !== ':') return null;
  const st = text.slice(at + 1, at + 3);
  const rx = text.slice(at + 13, at + 21);
  if (!HEX_DIGIT.test(st) || !HEX_DIGIT.test(rx)) return null;
  return { state: parseInt(st, 16), rxQueue: parseInt(rx, 16) };
}
