/**
 * IP addresses and CIDR ranges: parsing, formatting and fast set membership.
 * Pure. Addresses are held as bigint so IPv4 and IPv6 share one code path;
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is folded to IPv4 everywhere, so a
 * dual-stack listener's view of an IPv4 client matches IPv4 entries.
 */
import { Pacer, runToEnd, type Work } from './work.js';

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  /** 32-bit value for IPv4, 128-bit for IPv6. */
  readonly value: bigint;
}

export interface CidrRange {
  readonly family: IpFamily;
  /** Network address (host bits cleared). */
  readonly network: bigint;
  readonly prefix: number;
  /** True when the text had host bits set (`192.0.2.5/24`): a likely typo, but still usable. */
  readonly hostBitsSet: boolean;
}

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Dotted-quad IPv4; leading zeros are refused (some tools read them as octal). */
export function parseIpv4(text: string): bigint | null {
  const m = V4_RE.exec(text);
  if (m === null) return null;
  let value = 0n;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? '';
    if (part.length > 1 && part.startsWith('0')) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** RFC 4291 text form, with `::` and an optional dotted-quad tail. No zone ids. */
export function parseIpv6(text: string): bigint | null {
  if (text.length === 0 || text.length > 45) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string, allowV4Tail: boolean): bigint[] | null => {
    if (part === '') return [];
    const items = part.split(':');
    const out: bigint[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i] ?? '';
      if (allowV4Tail && i === items.length - 1 && item.includes('.')) {
        const v4 = parseIpv4(item);
        if (v4 === null) return null;
        out.push(v4 >> 16n, v4 & 0xffffn);
      } else if (HEX_GROUP.test(item)) {
        out.push(BigInt(`0x${item}`));
      } else {
        return null;
      }
    }
    return out;
  };
  let groups: bigint[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0] ?? '', false);
    const tail = parseGroups(halves[1] ?? '', true);
    if (head === null || tail === null) return null;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    groups = [...head, ...new Array<bigint>(missing).fill(0n), ...tail];
  } else {
    const all = parseGroups(text, true);
    if (all === null || all.length !== 8) return null;
    groups = all;
  }
  return groups.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** IPv4-mapped IPv6 becomes IPv4; everything else is unchanged. */
function fold(family: IpFamily, value: bigint): IpAddress {
  if (family === 6 && value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
  return { family, value };
}

/**
 * An address as smtpd or a person writes it: `192.0.2.1`, `2001:db8::1`,
 * `[2001:db8::1]`, `::ffff:192.0.2.1` (folded to IPv4), `fe80::1%eth0` (zone dropped).
 */
export function parseIp(text: string): IpAddress | null {
  let t = text;
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  if (t.includes(':')) {
    const zone = t.indexOf('%');
    if (zone >= 0) t = t.slice(0, zone);
    const v6 = parseIpv6(t);
    return v6 === null ? null : fold(6, v6);
  }
  const v4 = parseIpv4(t);
  return v4 === null ? null : { family: 4, value: v4 };
}

/** `ADDR` or `ADDR/PREFIX`; an error message for people otherwise. */
export function parseCidr(text: string): CidrRange | string {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  if (addrText.includes('%')) return 'zone ids (%...) are not allowed in address ranges';
  const rawFamily: IpFamily = addrText.includes(':') ? 6 : 4;
  const raw = rawFamily === 6 ? parseIpv6(addrText) : parseIpv4(addrText);
  if (raw === null) return rawFamily === 6 ? `"${addrText}" is not a valid IPv6 address` : `"${addrText}" is not a valid IPv4 address`;
  let prefix = BITS[rawFamily];
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > BITS[rawFamily]) {
      return `prefix length "/${p}" must be a number from 0 to ${BITS[rawFamily]} for an IPv${rawFamily} range`;
    }
    prefix = Number(p);
  }
  let family: IpFamily = rawFamily;
  let value = raw;
  // `::ffff:0:0/96` and longer are IPv4 ranges written the IPv6 way.
  if (rawFamily === 6 && prefix >= 96 && raw >> 32n === 0xffffn) {
    family = 4;
    value = raw & 0xffffffffn;
    prefix -= 96;
  }
  const hostMask = (1n << BigInt(BITS[family] - prefix)) - 1n;
  return { family, network: value & ~hostMask, prefix, hostBitsSet: (value & hostMask) !== 0n };
}

export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // Compress the longest run (length >= 2) of zero groups, as RFC 5952 asks.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export function formatCidr(range: CidrRange): string {
  return `${formatIp({ family: range.family, value: range.network })}/${range.prefix}`;
}

/**
 * The order of `keys` (indices, ascending by key; equal keys keep their order):
 * a bottom-up merge sort that yields every few hundred moves, so a million
 * ranges are sorted in slices (see support/work.ts). Keys are numbers for IPv4,
 * which compare much faster than bigints.
 */
export function* sortedOrder<T extends number | bigint>(keys: ArrayLike<T>, pacer: Pacer = new Pacer()): Work<Uint32Array> {
  const n = keys.length;
  let from = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    from[i] = i;
    if (pacer.tick()) yield;
  }
  const key = (i: number): T => keys[i] as T;
  // Short runs by insertion sort, then merges of doubling width.
  const RUN = 32;
  for (let lo = 0; lo < n; lo += RUN) {
    const hi = Math.min(lo + RUN, n);
    for (let i = lo + 1; i < hi; i++) {
      const x = from[i] ?? 0;
      const k = key(x);
      let j = i - 1;
      while (j >= lo && key(from[j] ?? 0) > k) {
        from[j + 1] = from[j] ?? 0;
        j--;
      }
      from[j + 1] = x;
    }
    if (pacer.tick()) yield;
  }
  let to = new Uint32Array(n);
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      for (let k = lo; k < hi; k++) {
        const a = from[i] ?? 0;
        const b = from[j] ?? 0;
        if (j >= hi || (i < mid && !(key(b) < key(a)))) {
          to[k] = a;
          i++;
        } else {
          to[k] = b;
          j++;
        }
        if (pacer.tick()) yield;
      }
    }
    [from, to] = [to, from];
  }
  return from;
}

/**
 * Sorted, merged, inclusive [start, end] ranges of one family, searched by
 * bisection. IPv4 ranges are held as doubles in typed arrays (exact for 32-bit
 * values, allocated in one piece, compared fast); IPv6 as bigints.
 */
interface RangeList {
  readonly size: number;
  has(v: bigint): boolean;
}

class V4Ranges implements RangeList {
  constructor(
    private readonly starts: Float64Array,
    private readonly ends: Float64Array,
  ) {}

  /** Ranges `starts[i]`..`ends[i]`, merged in `order` (ascending starts). */
  static *build(starts: Float64Array, ends: Float64Array, order: Uint32Array, pacer: Pacer): Work<V4Ranges> {
    const s = new Float64Array(order.length);
    const e = new Float64Array(order.length);
    let n = 0;
    for (const i of order) {
      const start = starts[i] ?? 0;
      const end = ends[i] ?? 0;
      const lastEnd = e[n - 1] ?? -2;
      if (n > 0 && start <= lastEnd + 1) {
        if (end > lastEnd) e[n - 1] = end;
      } else {
        s[n] = start;
        e[n++] = end;
      }
      if (pacer.tick()) yield;
    }
    return new V4Ranges(s.slice(0, n), e.slice(0, n));
  }

  get size(): number {
    return this.starts.length;
  }

  has(value: bigint): boolean {
    const v = Number(value);
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (v < (this.starts[mid] ?? 0)) hi = mid - 1;
      else if (v > (this.ends[mid] ?? -1)) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

class V6Ranges implements RangeList {
  private readonly starts: bigint[] = [];
  private readonly ends: bigint[] = [];

  static *build(starts: readonly bigint[], ends: readonly bigint[], order: Uint32Array, pacer: Pacer): Work<V6Ranges> {
    const list = new V6Ranges();
    for (const i of order) {
      const s = starts[i] ?? 0n;
      const e = ends[i] ?? 0n;
      const last = list.ends.length - 1;
      const lastEnd = list.ends[last];
      if (lastEnd !== undefined && s <= lastEnd + 1n) {
        if (e > lastEnd) list.ends[last] = e;
      } else {
        list.starts.push(s);
        list.ends.push(e);
      }
      if (pacer.tick()) yield;
    }
    return list;
  }

  get size(): number {
    return this.starts.length;
  }

  has(v: bigint): boolean {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.starts[mid] ?? 0n;
      const e = this.ends[mid] ?? -1n;
      if (v < s) hi = mid - 1;
      else if (v > e) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

/** Both families' ranges, sorted and merged: what IpSetBuilder hands to the IpSet constructor. */
class PreparedRanges {
  constructor(
    readonly v4: RangeList,
    readonly v6: RangeList,
  ) {}
}

/**
 * Collects ranges one at a time, then sorts and merges them (in slices). IPv4
 * goes straight into typed arrays, so a million addresses are two buffers, not
 * a million objects for the garbage collector to copy around while they pile up.
 */
export class IpSetBuilder {
  private starts4: Float64Array = new Float64Array(64);
  private ends4: Float64Array = new Float64Array(64);
  private n4 = 0;
  private readonly starts6: bigint[] = [];
  private readonly ends6: bigint[] = [];

  add(r: CidrRange): void {
    if (r.family === 6) {
      this.starts6.push(r.network);
      this.ends6.push(r.network + (1n << BigInt(128 - r.prefix)) - 1n);
      return;
    }
    if (this.n4 === this.starts4.length) {
      this.starts4 = grow(this.starts4);
      this.ends4 = grow(this.ends4);
    }
    const start = Number(r.network);
    this.starts4[this.n4] = start;
    this.ends4[this.n4++] = start + 2 ** (32 - r.prefix) - 1;
  }

  *finish(pacer: Pacer = new Pacer()): Work<IpSet> {
    const starts4 = this.starts4.subarray(0, this.n4);
    const ends4 = this.ends4.subarray(0, this.n4);
    const v4 = yield* V4Ranges.build(starts4, ends4, yield* sortedOrder(starts4, pacer), pacer);
    const v6 = yield* V6Ranges.build(this.starts6, this.ends6, yield* sortedOrder(this.starts6, pacer), pacer);
    return new IpSet(new PreparedRanges(v4, v6));
  }
}

function grow(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

/** A set of CIDR ranges; membership is O(log n). */
export class IpSet {
  private readonly v4: RangeList;
  private readonly v6: RangeList;

  /** Sorts and merges `ranges` at once; IpSetBuilder does the same in slices. */
  constructor(ranges: readonly CidrRange[] | PreparedRanges) {
    if (ranges instanceof PreparedRanges) {
      this.v4 = ranges.v4;
      this.v6 = ranges.v6;
      return;
    }
    const b = new IpSetBuilder();
    for (const r of ranges) b.add(r);
    const built = runToEnd(b.finish());
    this.v4 = built.v4;
    this.v6 = built.v6;
  }

  get isEmpty(): boolean {
    return this.v4.size === 0 && this.v6.size === 0;
  }

  has(ip: IpAddress): boolean {
    return ip.family === 4 ? this.v4.has(ip.value) : this.v6.has(ip.value);
  }

  /** Parses `text` with parseIp; unparseable text is never a member. */
  hasText(text: string): boolean {
    const ip = parseIp(text);
    return ip !== null && this.has(ip);
  }
}
