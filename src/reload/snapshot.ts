/**
 * One consistent read of the rules file and its list files for a reload pass.
 *
 * Files are read asynchronously (no blocking read on the event loop while
 * sessions are waiting for answers), hashed to decide whether anything changed,
 * and then served synchronously to the compiler from memory, so the compiled
 * rules, the hashes and the diagnostics all come from the same bytes. Big texts
 * are hashed a slice at a time, giving the event loop back in between (a
 * 64 MiB list hashed in one go would hold up answers for tens of ms).
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';

export type AsyncReadFile = (path: string) => Promise<string>;

/** path → content hash (`sha256:…`) or the read error's code (`!ENOENT`). */
export type Fingerprint = ReadonlyMap<string, string>;

type Entry =
  | { readonly ok: true; readonly text: string; readonly hash: string }
  | { readonly ok: false; readonly error: Error; readonly hash: string };

export class Snapshot {
  private readonly entries = new Map<string, Entry>();

  private constructor(private readonly readFile: AsyncReadFile) {}

  /** Read `paths`; a file found in `known` (path → text) is taken from there instead of the disk. */
  static async read(
    paths: Iterable<string>,
    readFile: AsyncReadFile,
    known: ReadonlyMap<string, string> = new Map(),
  ): Promise<Snapshot> {
    const snapshot = new Snapshot(readFile);
    const texts = new Map([...known].map(([p, text]) => [resolve(p), text]));
    const rest: string[] = [];
    for (const path of paths) {
      const abs = resolve(path);
      const text = texts.get(abs);
      if (text === undefined) rest.push(abs);
      else snapshot.entries.set(abs, { ok: true, text, hash: await hashOf(text) });
    }
    await snapshot.add(rest);
    return snapshot;
  }

  /** Read more files into the snapshot (those already in it are kept as read). */
  async add(paths: Iterable<string>): Promise<void> {
    const wanted = [...new Set([...paths].map((p) => resolve(p)))].filter((p) => !this.entries.has(p));
    const read = await Promise.all(wanted.map((p) => this.readOne(p)));
    wanted.forEach((p, i) => {
      const entry = read[i];
      if (entry !== undefined) this.entries.set(p, entry);
    });
  }

  has(path: string): boolean {
    return this.entries.has(resolve(path));
  }

  /** The text of a file, or undefined when it is not in the snapshot or could not be read. */
  text(path: string): string | undefined {
    const entry = this.entries.get(resolve(path));
    return entry?.ok === true ? entry.text : undefined;
  }

  /** The error code of a failed read (`ENOENT`, `EACCES`, …), or undefined. */
  errorCode(path: string): string | undefined {
    const entry = this.entries.get(resolve(path));
    return entry === undefined || entry.ok ? undefined : errorCodeOf(entry.error);
  }

  /**
   * A synchronous reader over the snapshot, shaped like CompileOptions.readFile:
   * returns the text or rethrows the read's original error. A path not in the
   * snapshot is reported to `onMiss` and fails with ENOENT; the caller reads it
   * and compiles again.
   */
  reader(onRead: (path: string) => void, onMiss: (path: string) => void): (path: string) => string {
    return (path) => {
      const abs = resolve(path);
      onRead(abs);
      const entry = this.entries.get(abs);
      if (entry === undefined) {
        onMiss(abs);
        throw Object.assign(new Error(`ENOENT: not read yet, '${abs}'`), { code: 'ENOENT', path: abs });
      }
      if (!entry.ok) throw entry.error;
      return entry.text;
    };
  }

  /** Characters of text held (for logs). */
  size(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.ok) n += e.text.length;
    return n;
  }

  fingerprint(): Fingerprint {
    return new Map([...this.entries].map(([p, e]) => [p, e.hash]));
  }

  private async readOne(path: string): Promise<Entry> {
    try {
      const text = await this.readFile(path);
      return { ok: true, text, hash: await hashOf(text) };
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      return { ok: false, error, hash: `!${errorCodeOf(error) ?? 'EIO'}` };
    }
  }
}

/** Files of `next` whose hash differs from `prev` (absent from `prev` counts as changed), sorted. */
export function changedFiles(prev: Fingerprint, next: Fingerprint): string[] {
  return [...next]
    .filter(([path, hash]) => prev.get(path) !== hash)
    .map(([path]) => path)
    .sort();
}

/**
 * Hashed this much at a time (about 1 ms here), with a turn of the event loop
 * in between. A slice boundary may split a surrogate pair: every hash is made
 * with the same boundaries, so equal texts still hash equal.
 */
const HASH_SLICE = 1 << 20;

async function hashOf(text: string): Promise<string> {
  const hash = createHash('sha256');
  for (let i = 0; i < text.length; i += HASH_SLICE) {
    if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    hash.update(text.length <= HASH_SLICE ? text : text.slice(i, i + HASH_SLICE));
  }
  return `sha256:${hash.digest('hex')}`;
}

function errorCodeOf(error: Error): string | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : undefined;
}
