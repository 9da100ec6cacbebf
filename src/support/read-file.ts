/**
 * The one way the rules file and its list files are read (startup, `check`,
 * the other commands and every reload), so every read refuses the same things:
 *
 *  - anything that is not a regular file. A FIFO blocks open(2) until a writer
 *    comes, and a read until it writes: at startup smtpd waits for the filter's
 *    registration without a banner, and a reload never ends. `/dev/zero`, a
 *    terminal or a socket never end either. The file is opened with O_NONBLOCK
 *    (a FIFO's open returns at once) and fstat(2)ed before a byte is read.
 *    Symlinks are followed, as they always were: a rules file that is a link to
 *    a release directory is a supported set-up (the watcher follows them too);
 *    it is what the link points at that must be a regular file.
 *  - a rules file that is not UTF-8 text (a reply saved in Latin-1 by an old
 *    editor): decoded anyway, its bytes would become U+FFFD in the SMTP reply,
 *    unnoticed. It is refused at its first bad byte, with the line and column.
 *    (List files are not checked: a Latin-1 comment in one is harmless, and an
 *    item with such bytes is a malformed item, located, anyway.)
 *  - a file larger than its limit (MAX_BYTES). A 1 GiB sparse file read as a
 *    list took the filter to about 600 MB, and the heap stayed there. The size
 *    is checked from fstat before reading, and the read stops one byte past the
 *    limit, so a file growing while read cannot get past it either.
 *
 * Refusals are `FileRefused` errors; the compiler turns them into located
 * diagnostics (E060, E061, E062) and the reloader keeps the running rules. Other
 * errors are the system's (ENOENT, EACCES, …), thrown as they come.
 *
 * What remains that can block: open(2) or read(2) on a hung network or FUSE
 * file system. The synchronous read is only used at startup and by commands;
 * the reloader reads asynchronously (the libuv thread pool waits, not the event
 * loop) and bounds each pass with a time limit (see reload/scheduler.ts).
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';

/** Limits, in bytes, by what a file is to the rules. */
export const MAX_BYTES = {
  /**
   * The rules file is lexed and parsed in one go (a reload does it on the event
   * loop, about 0.3–0.6 s per MiB here): real ones are a few KiB, and big item
   * sets belong in list files, which are compiled in slices.
   */
  rules: 1024 * 1024,
  /** Each list file: about two million addresses or domains. */
  list: 64 * 1024 * 1024,
  /** A file a step loads at compile (a DKIM private key, a few KiB of PEM). */
  key: 64 * 1024,
} as const;

export type FileRole = keyof typeof MAX_BYTES;

export type RefusalReason =
  | { readonly kind: 'not-regular'; readonly type: string }
  | { readonly kind: 'too-large'; readonly bytes: number | null; readonly limit: number }
  /** Where the first byte that is not UTF-8 is: 1-based line, column in UTF-16 units (as SourceText counts). */
  | { readonly kind: 'not-utf8'; readonly byte: number; readonly line: number; readonly column: number };

/**
 * A file refused before its content was used. `code` is errno-like, for the
 * reloader's fingerprints (`!EFTYPE`) and for logs: EFTYPE (inappropriate file
 * type), EFBIG (file too large) or EILSEQ (not UTF-8).
 */
export class FileRefused extends Error {
  readonly code: 'EFTYPE' | 'EFBIG' | 'EILSEQ';

  constructor(
    readonly path: string,
    readonly reason: RefusalReason,
  ) {
    super(refusalText(reason));
    this.name = 'FileRefused';
    this.code = reason.kind === 'not-regular' ? 'EFTYPE' : reason.kind === 'too-large' ? 'EFBIG' : 'EILSEQ';
  }
}

/** `it is a FIFO`, `it is 1.0 GiB; the limit is 64 MiB`: the end of a sentence about the file. */
export function refusalText(reason: RefusalReason): string {
  switch (reason.kind) {
    case 'not-regular':
      return `it is ${reason.type}, not a regular file`;
    case 'too-large':
      return reason.bytes === null
        ? `it is larger than the limit of ${formatBytes(reason.limit)}`
        : `it is ${formatBytes(reason.bytes)}; the limit is ${formatBytes(reason.limit)}`;
    case 'not-utf8':
      return `byte 0x${reason.byte.toString(16).toUpperCase().padStart(2, '0')} at line ${reason.line}, column ${reason.column} is not UTF-8`;
  }
}

/** `512 bytes`, `3.2 KiB`, `64 MiB`, `1.0 GiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let unit = 0;
  while (v >= 1024 && unit < units.length - 1) {
    v /= 1024;
    unit++;
  }
  const shown = Number.isInteger(v) ? String(v) : v.toFixed(1);
  return `${shown} ${units[unit]}`;
}

/** What a non-regular file is, for people. */
function typeOf(st: Pick<Stats, 'isDirectory' | 'isFIFO' | 'isCharacterDevice' | 'isBlockDevice' | 'isSocket' | 'isSymbolicLink'>): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The checks made on the open file, before reading: the same for both readers. */
function refusalOf(path: string, st: Stats, limit: number): FileRefused | null {
  if (!st.isFile()) return new FileRefused(path, { kind: 'not-regular', type: typeOf(st) });
  if (st.size > limit) return new FileRefused(path, { kind: 'too-large', bytes: st.size, limit });
  return null;
}

/**
 * O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right
 * after). O_NOCTTY: a terminal named as a list must not become ours.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
/** Read in pieces this big: each piece is one read(2) (and, async, one trip to the thread pool). */
const CHUNK = 1024 * 1024;

/**
 * The bytes read so far, in one buffer sized from fstat (one byte more, to see
 * the end of the file in the same buffer). A file that grows while it is read
 * gets a bigger buffer, up to one byte past the limit: that byte means refused.
 */
class Collector {
  private buffer: Buffer;
  private filled = 0;

  constructor(
    private readonly path: string,
    private readonly limit: number,
    size: number,
  ) {
    this.buffer = Buffer.allocUnsafe(Math.min(size, limit) + 1);
  }

  /** Where the next read goes: [buffer, offset, length]. Throws when the limit is passed. */
  room(): [Buffer, number, number] {
    if (this.filled === this.buffer.length) {
      if (this.filled > this.limit) throw new FileRefused(this.path, { kind: 'too-large', bytes: null, limit: this.limit });
      const bigger = Buffer.allocUnsafe(Math.min(this.limit + 1, Math.max(2 * this.buffer.length, CHUNK)));
      this.buffer.copy(bigger, 0, 0, this.filled);
      this.buffer = bigger;
    }
    return [this.buffer, this.filled, Math.min(CHUNK, this.buffer.length - this.filled)];
  }

  took(n: number): void {
    this.filled += n;
  }

  get bytes(): number {
    return this.filled;
  }

  text(requireUtf8: boolean): string {
    if (this.filled > this.limit) throw new FileRefused(this.path, { kind: 'too-large', bytes: null, limit: this.limit });
    const bytes = this.buffer.subarray(0, this.filled);
    if (requireUtf8 && !isUtf8(bytes)) throw new FileRefused(this.path, notUtf8At(bytes, firstInvalidUtf8(bytes)));
    return bytes.toString('utf8');
  }
}

/**
 * A save that lands while the file is being read: `writeFileSync` and most
 * editors rewrite in place (truncate, then write), so a read made of several
 * read(2) calls can return the start of one version and the end of another,
 * text nobody wrote (seen under load in the reload stress test). The file is
 * fstat(2)ed again after the read; if it changed (size, modification or change
 * time, or fewer bytes than its size), it is read again from the start, up to
 * READ_ATTEMPTS times in all. A file still changing then is a `FileChanging`
 * error: the reloader keeps the running rules, and the write's own event brings
 * another pass once the save is done.
 */
const READ_ATTEMPTS = 3;

export class FileChanging extends Error {
  readonly code = 'EAGAIN';

  constructor(readonly path: string) {
    super(`${path}: the file changed while it was read ${READ_ATTEMPTS} times; not used (a save in progress?)`);
    this.name = 'FileChanging';
  }
}

type Stamp = Pick<Stats, 'size' | 'mtimeMs' | 'ctimeMs' | 'ino'>;

/** Whether the file read between `before` and `after`, `bytes` long, is one version of it. */
function settled(before: Stamp, after: Stamp, bytes: number): boolean {
  const same = before.size === after.size && before.mtimeMs === after.mtimeMs && before.ctimeMs === after.ctimeMs && before.ino === after.ino;
  // Files whose size fstat does not know (/proc, some pseudo file systems) say 0 while they have content.
  return same && (bytes === after.size || after.size === 0);
}

/** For tests: called after every read(2), so a test can change the file in the middle of a read. */
export interface ReadHooks {
  readonly afterRead?: (bytes: number) => void;
}

/**
 * The read itself, written once for both readers: a generator that yields the
 * system calls it needs (fstat, read) and gets their results back. The
 * synchronous reader answers them with fstatSync/readSync, the reloader's with
 * the promise API, so the checks (refusals, the limit, a save landing mid-read)
 * cannot drift apart between startup and reload.
 */
type Call = { readonly op: 'stat' } | { readonly op: 'read'; readonly buffer: Buffer; readonly offset: number; readonly length: number };
type Reply = Stats | number;

function* readSteps(path: string, role: FileRole, hooks: ReadHooks): Generator<Call, string, Reply> {
  const limit = MAX_BYTES[role];
  let st = (yield { op: 'stat' }) as Stats;
  for (let attempt = 1; ; attempt++) {
    const refused = refusalOf(path, st, limit);
    if (refused !== null) throw refused;
    const collected = new Collector(path, limit, st.size);
    for (;;) {
      const [buffer, offset, length] = collected.room();
      // Positional (from the start of the file), so a second attempt reads the same fd from 0.
      const n = (yield { op: 'read', buffer, offset, length }) as number;
      hooks.afterRead?.(n);
      if (n === 0) break;
      collected.took(n);
    }
    const after = (yield { op: 'stat' }) as Stats;
    if (settled(st, after, collected.bytes)) return collected.text(role === 'rules');
    if (attempt === READ_ATTEMPTS) throw new FileChanging(path);
    st = after;
  }
}

/** Read a rules or list file as UTF-8, synchronously (startup and commands: nothing is being answered yet). */
export function readRulesFileSync(path: string, role: FileRole, hooks: ReadHooks = {}): string {
  const fd = openSync(path, OPEN_FLAGS);
  try {
    const steps = readSteps(path, role, hooks);
    let next = steps.next();
    while (next.done !== true) {
      const call = next.value;
      next = steps.next(call.op === 'stat' ? fstatSync(fd) : readSync(fd, call.buffer, call.offset, call.length, call.offset));
    }
    return next.value;
  } finally {
    closeSync(fd);
  }
}

/** The same, asynchronously: the reloader's reader, so a slow disk never holds up answers. */
export async function readRulesFile(path: string, role: FileRole, hooks: ReadHooks = {}): Promise<string> {
  const handle = await open(path, OPEN_FLAGS);
  try {
    const steps = readSteps(path, role, hooks);
    let next = steps.next();
    while (next.done !== true) {
      const call = next.value;
      next = steps.next(call.op === 'stat' ? await handle.stat() : (await handle.read(call.buffer, call.offset, call.length, call.offset)).bytesRead);
    }
    return next.value;
  } finally {
    await handle.close();
  }
}

/**
 * The offset of the first byte of `bytes` that does not start or continue a
 * well-formed UTF-8 sequence (no overlong forms, surrogates or code points past
 * U+10FFFF, as `isUtf8` and the WHATWG decoder judge); `bytes.length` if none.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      i++;
      continue;
    }
    // The length of the sequence and the range its second byte must be in.
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) length = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      if (b === 0xe0) low = 0xa0;
      if (b === 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      length = 4;
      if (b === 0xf0) low = 0x90;
      if (b === 0xf4) high = 0x8f;
    } else return i;
    for (let k = 1; k < length; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      if (k === 1 ? c < low || c > high : c < 0x80 || c > 0xbf) return i;
    }
    i += length;
  }
  return i;
}

/** The refusal for the bad byte at `offset`: its line and column, counted as SourceText does (CRLF, CR, LF). */
function notUtf8At(bytes: Buffer, offset: number): RefusalReason {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    const b = bytes[i];
    if (b === 0x0a || (b === 0x0d && bytes[i + 1] !== 0x0a)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { kind: 'not-utf8', byte: bytes[offset] ?? 0, line, column: bytes.toString('utf8', lineStart, offset).length + 1 };
}
