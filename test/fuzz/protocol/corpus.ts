/**
 * Raw material for the protocol fuzz tests: the lines real smtpd 6.8 sent in
 * the recorded transcripts (test/fixtures/transcripts/smtpd-6.8, `> ` lines),
 * hostile values, and fast-check arbitraries that turn them into hostile
 * input streams: several recorded sessions interleaved under fresh or reused
 * session ids, then mutated (lines dropped, duplicated, swapped, cut, bytes and
 * fields replaced by hostile values, garbage lines, stray disconnects), with
 * clock advances in between.
 */
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { FILTER_PHASES } from '../../../src/model/phases.js';

const DIR = new URL('../../../../test/fixtures/transcripts/smtpd-6.8/', import.meta.url);

export const HANDSHAKE_68 = [
  'config|smtpd-version|6.8.0p2',
  'config|smtp-session-timeout|300',
  'config|subsystem|smtp-in',
  'config|admd|vm',
  'config|ready',
] as const;

export const HANDSHAKE_78 = [
  'config|smtpd-version|7.8.0p1',
  'config|protocol|0.7',
  'config|smtp-session-timeout|300',
  'config|subsystem|smtp-in',
  'config|subsystem|smtp-out',
  'config|admd|mx.example.org',
  'config|ready',
] as const;

export interface Transcript {
  readonly name: string;
  /** What smtpd sent, in order, one session each (the recordings hold one session per file). */
  readonly lines: readonly string[];
  /** The session id used in the recording. */
  readonly sessionId: string;
}

let cached: readonly Transcript[] | null = null;

export function transcripts(): readonly Transcript[] {
  if (cached !== null) return cached;
  const out: Transcript[] = [];
  for (const name of readdirSync(DIR).sort()) {
    if (!name.endsWith('.txt') || name.includes('.client.')) continue;
    const lines = readFileSync(new URL(name, DIR), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('> '))
      .map((l) => l.slice(2));
    const first = lines.find((l) => l.startsWith('report|'))?.split('|')[5];
    if (first === undefined) throw new Error(`${name}: no report line`);
    out.push({ name, lines, sessionId: first });
  }
  if (out.length === 0) throw new Error('no transcripts found');
  cached = out;
  return out;
}

/** Replace every occurrence of a session id (it appears as a whole field). */
export function renameSession(lines: readonly string[], from: string, to: string): string[] {
  return lines.map((l) => l.split(`|${from}`).join(`|${to}`));
}

/** Rewrite the protocol version field (field 2 of report and filter lines). */
export function withVersion(line: string, version: string): string {
  if (!line.startsWith('report|') && !line.startsWith('filter|')) return line;
  const bar = line.indexOf('|', 7);
  return bar < 0 ? line : `${line.slice(0, 7)}${version}${line.slice(bar)}`;
}

export const hex16 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n) => n.toString(16).padStart(16, '0'));

/** Values an attacker controls (HELO, addresses, body lines) or a broken peer might send. */
export const HOSTILE_TEXT: readonly string[] = [
  '',
  '|',
  '||||',
  'a|b|c',
  '\r',
  'x\r',
  '\t',
  '.',
  '..',
  '.\r',
  '<>',
  '<unknown>',
  'proceed',
  'filter-result|0000000000000000|0000000000000000|proceed',
  'config|ready',
  '\u2028',
  '\uFEFF',
  'ü',
  '\u{1F4E7}',
  '%n%s%s',
  '${jndi:ldap://x}',
  '`id`',
  '$(touch /tmp/pwned)',
  '../../etc/passwd',
  'a'.repeat(1000),
  'a'.repeat(65_536),
  `${'a'.repeat(4096)}!`,
  '[127.0.0.1]',
  '[IPv6:::1]',
  '::ffff:10.0.0.1',
  '999.999.999.999',
  'bulk@spam.example',
  'junk@example.net',
];

/** Raw bytes that are not text: NUL, invalid UTF-8, a lone surrogate's encoding, DEL. */
export const HOSTILE_BYTES: readonly Buffer[] = [
  Buffer.from([0]),
  Buffer.from([0xff]),
  Buffer.from([0xc3]),
  Buffer.from([0xc3, 0x28]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf0, 0x28, 0x8c, 0x28]),
  Buffer.from([0x7f]),
  Buffer.from([0x1b, 0x5b, 0x32, 0x4a]),
];

export const hostileText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_TEXT) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12, unit: 'binary' }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 70_000 }).map((n) => 'x'.repeat(n)) },
);

export const hostileBytes = fc.oneof(
  hostileText.map((t) => Buffer.from(t, 'utf8')),
  fc.constantFrom(...HOSTILE_BYTES),
  fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
);

/** A line built from scratch: protocol-shaped, with random fields. */
export const garbageLine: fc.Arbitrary<Buffer> = fc.oneof(
  hostileBytes,
  fc
    .tuple(
      fc.constantFrom('filter', 'report', 'config', 'register', 'filter-result', 'FILTER', ''),
      fc.constantFrom('0.6', '0.7', '0.4', '1.0', '', 'x', '0.6\r'),
      fc.constantFrom('1795635326.076777', '1', '', '-1', '1e9'),
      fc.constantFrom('smtp-in', 'smtp-out', ''),
      fc.oneof(fc.constantFrom(...FILTER_PHASES), fc.constantFrom('link-connect', 'link-disconnect', 'tx-mail', 'bogus', '')),
      fc.oneof(hex16, fc.constantFrom('', 'zz', '3689FE601E5436B4', '3689fe601e5436b')),
      fc.oneof(hex16, fc.constantFrom('', '1a9c37f7cd0c06a5')),
      hostileText,
    )
    .map((fields) => Buffer.from(fields.join('|'), 'utf8')),
);

/** One step of a hostile conversation. */
export type Action =
  | { readonly kind: 'bytes'; readonly data: Buffer }
  | { readonly kind: 'advance'; readonly ms: number };

export type Mutation =
  | { readonly kind: 'drop'; readonly at: number }
  | { readonly kind: 'duplicate'; readonly at: number }
  | { readonly kind: 'swap'; readonly at: number }
  | { readonly kind: 'cut'; readonly at: number; readonly keep: number }
  | { readonly kind: 'insert-bytes'; readonly at: number; readonly pos: number; readonly bytes: Buffer }
  | { readonly kind: 'replace-field'; readonly at: number; readonly field: number; readonly value: Buffer }
  | { readonly kind: 'garbage'; readonly at: number; readonly line: Buffer }
  | { readonly kind: 'disconnect'; readonly at: number; readonly session: number }
  | { readonly kind: 'phase'; readonly at: number; readonly phase: string }
  | { readonly kind: 'version'; readonly at: number; readonly version: string }
  | { readonly kind: 'session'; readonly at: number; readonly session: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), keep: fc.nat() }),
  fc.record({ kind: fc.constant('insert-bytes' as const), at: fc.nat(), pos: fc.nat(), bytes: hostileBytes }),
  fc.record({ kind: fc.constant('replace-field' as const), at: fc.nat(), field: fc.nat({ max: 9 }), value: hostileBytes }),
  fc.record({ kind: fc.constant('garbage' as const), at: fc.nat(), line: garbageLine }),
  fc.record({ kind: fc.constant('disconnect' as const), at: fc.nat(), session: fc.nat() }),
  fc.record({ kind: fc.constant('phase' as const), at: fc.nat(), phase: fc.constantFrom(...FILTER_PHASES, 'bogus', 'DATA') }),
  fc.record({ kind: fc.constant('version' as const), at: fc.nat(), version: fc.constantFrom('0.4', '0.5', '0.7', '0.10', '1.0', 'x') }),
  fc.record({ kind: fc.constant('session' as const), at: fc.nat(), session: fc.nat() }),
);

/** Replace field `index` (`|`-separated) of a line; beyond the last field, append one. */
function replaceField(line: Buffer, index: number, value: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (;;) {
    const bar = line.indexOf(0x7c, start);
    if (bar < 0) {
      parts.push(line.subarray(start));
      break;
    }
    parts.push(line.subarray(start, bar));
    start = bar + 1;
  }
  if (index < parts.length) parts[index] = value;
  else parts.push(value);
  const out: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(Buffer.from('|'));
    out.push(p);
  });
  return Buffer.concat(out);
}

/** Apply mutations to a list of lines (the handshake prefix, `protect` lines, is left alone). */
export function mutate(lines: readonly Buffer[], mutations: readonly Mutation[], sessions: readonly string[], protect: number): Buffer[] {
  const out = [...lines];
  for (const m of mutations) {
    const span = out.length - protect;
    if (span <= 0) break;
    const at = protect + (m.at % span);
    const line = out[at] as Buffer;
    switch (m.kind) {
      case 'drop':
        out.splice(at, 1);
        break;
      case 'duplicate':
        out.splice(at, 0, line);
        break;
      case 'swap':
        if (at + 1 < out.length) {
          out[at] = out[at + 1] as Buffer;
          out[at + 1] = line;
        }
        break;
      case 'cut':
        out[at] = line.subarray(0, m.keep % (line.length + 1));
        break;
      case 'insert-bytes': {
        const pos = m.pos % (line.length + 1);
        out[at] = Buffer.concat([line.subarray(0, pos), m.bytes, line.subarray(pos)]);
        break;
      }
      case 'replace-field':
        out[at] = replaceField(line, m.field, m.value);
        break;
      case 'garbage':
        out.splice(at, 0, m.line);
        break;
      case 'disconnect': {
        const sid = sessions[m.session % sessions.length] ?? '0000000000000000';
        out.splice(at, 0, Buffer.from(`report|0.6|1795635399.000000|smtp-in|link-disconnect|${sid}`));
        break;
      }
      case 'phase':
        if (line.subarray(0, 7).toString('latin1') === 'filter|') out[at] = replaceField(line, 4, Buffer.from(m.phase));
        break;
      case 'version':
        out[at] = Buffer.from(withVersion(line.toString('latin1'), m.version), 'latin1');
        break;
      case 'session': {
        const sid = sessions[m.session % sessions.length] ?? '0000000000000000';
        if (/^(report|filter)\|/.test(line.subarray(0, 7).toString('latin1'))) out[at] = replaceField(line, 5, Buffer.from(sid));
        break;
      }
    }
  }
  return out;
}

/** Merge several sequences at random, keeping each one's order (`picks` chooses the next source). */
export function interleave<T>(sources: readonly (readonly T[])[], picks: readonly number[]): T[] {
  const queues = sources.map((s) => [...s]);
  const out: T[] = [];
  let i = 0;
  for (;;) {
    const live = queues.filter((q) => q.length > 0);
    if (live.length === 0) return out;
    const q = live[(picks[i++ % Math.max(1, picks.length)] ?? 0) % live.length] as T[];
    out.push(q.shift() as T);
  }
}

export interface Conversation {
  readonly actions: readonly Action[];
  /** Session ids used (for shrinking output and reports). */
  readonly sessions: readonly string[];
}

export interface ConversationOptions {
  /** Most sessions interleaved. */
  readonly maxSessions?: number;
  /** Most mutations applied. */
  readonly maxMutations?: number;
  /** Clock advances: none for the real-time CLI runs. */
  readonly advances?: boolean;
}

/**
 * A hostile conversation: a handshake (sometimes broken or missing), several
 * recorded sessions interleaved (ids fresh, or deliberately reused), mutated,
 * as lines with clock advances between some of them.
 */
export function conversation(options: ConversationOptions = {}): fc.Arbitrary<Conversation> {
  const all = transcripts();
  const maxSessions = options.maxSessions ?? 4;
  const session = fc.record({
    transcript: fc.nat({ max: all.length - 1 }),
    /** Reuse an earlier session's id (after that one ended, or in the middle of it). */
    reuse: fc.option(fc.nat(), { freq: 5 }),
    id: hex16,
    version: fc.constantFrom('0.6', '0.6', '0.6', '0.7'),
  });
  return fc
    .record({
      handshake: fc.constantFrom('6.8', '6.8', '7.8', 'none', 'broken'),
      sessions: fc.array(session, { minLength: 1, maxLength: maxSessions }),
      sequential: fc.boolean(),
      picks: fc.array(fc.nat(), { minLength: 1, maxLength: 64 }),
      mutations: fc.array(mutation, { maxLength: options.maxMutations ?? 8 }),
      advances: options.advances === false ? fc.constant([]) : fc.array(fc.record({ at: fc.nat(), ms: fc.integer({ min: 0, max: 40_000 }) }), { maxLength: 8 }),
      chunks: fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 16 }),
    })
    .map(({ handshake, sessions, sequential, picks, mutations, advances, chunks }) => {
      const ids: string[] = [];
      const bodies: string[][] = [];
      for (const s of sessions) {
        const t = all[s.transcript] as Transcript;
        const id = s.reuse !== null && ids.length > 0 ? (ids[s.reuse % ids.length] as string) : s.id;
        ids.push(id);
        let lines = renameSession(t.lines, t.sessionId, id);
        if (s.version !== '0.6') lines = lines.map((l) => withVersion(l, s.version));
        bodies.push(lines);
      }
      const traffic = sequential ? bodies.flat() : interleave(bodies, picks);
      const hs: string[] =
        handshake === '6.8' ? [...HANDSHAKE_68] : handshake === '7.8' ? [...HANDSHAKE_78] : handshake === 'none' ? [] : ['config|smtpd-version|6.8.0p2', 'config|ready|x', 'config|', 'config|ready'];
      const lines = mutate([...hs, ...traffic].map((l) => Buffer.from(l, 'utf8')), mutations, ids, hs.length);
      // Lines → byte chunks cut at arbitrary places, with clock advances at line boundaries.
      const advanceAt = new Map<number, number>();
      for (const a of advances) advanceAt.set(a.at % (lines.length + 1), a.ms);
      const actions: Action[] = [];
      let pending: Buffer[] = [];
      let c = 0;
      const flushBytes = (): void => {
        const data = Buffer.concat(pending);
        pending = [];
        let start = 0;
        while (start < data.length) {
          const size = chunks[c++ % chunks.length] as number;
          actions.push({ kind: 'bytes', data: data.subarray(start, start + size) });
          start += size;
        }
      };
      lines.forEach((line, i) => {
        const ms = advanceAt.get(i);
        if (ms !== undefined) {
          flushBytes();
          actions.push({ kind: 'advance', ms });
        }
        pending.push(line, Buffer.from('\n'));
      });
      flushBytes();
      return describeConversation({ actions, sessions: [...new Set(ids)] });
    });
}

/** Attach a readable form (input lines, clock advances) for fast-check's counterexample report. */
export function describeConversation(conv: Conversation): Conversation {
  return Object.assign(conv, {
    [fc.toStringMethod]: () => {
      const out: string[] = [];
      let pending = '';
      for (const a of conv.actions) {
        if (a.kind === 'advance') {
          out.push(`  … clock +${a.ms} ms`);
          continue;
        }
        const parts = (pending + a.data.toString('latin1')).split('\n');
        pending = parts.pop() ?? '';
        for (const p of parts) out.push(`  > ${JSON.stringify(p.length > 300 ? `${p.slice(0, 300)}…(${p.length})` : p)}`);
      }
      if (pending !== '') out.push(`  > (no newline) ${JSON.stringify(pending.slice(0, 300))}`);
      return `conversation:\n${out.join('\n')}\n`;
    },
  });
}

/** The same actions with every bytes action split so that no feed holds more than one line end. */
export function oneLinePerFeed(actions: readonly Action[]): Action[] {
  const out: Action[] = [];
  for (const a of actions) {
    if (a.kind !== 'bytes') {
      out.push(a);
      continue;
    }
    let start = 0;
    for (;;) {
      const nl = a.data.indexOf(10, start);
      if (nl < 0) {
        if (start < a.data.length) out.push({ kind: 'bytes', data: a.data.subarray(start) });
        break;
      }
      out.push({ kind: 'bytes', data: a.data.subarray(start, nl + 1) });
      start = nl + 1;
    }
  }
  return out;
}
