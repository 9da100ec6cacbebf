/**
 * A private temporary file for the part of a message past the memory cap.
 * The file is created with O_CREAT|O_EXCL and mode 0600 under a random name,
 * then unlinked at once: only our descriptor reaches it, nobody can open or
 * swap it, and the kernel frees it on every path out (done, abort,
 * disconnect, reload, an exception, even a crash of the filter). Closing the
 * descriptor is all that is left to do. Synchronous: written and read in
 * chunks of tens of KiB, and only for messages past the cap.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An open, already unlinked spool file: append, read back at an offset, close. */
export interface Spool {
  /** Appends all of `bytes`; throws on a write error (ENOSPC…). */
  append(bytes: Uint8Array): void;
  /** Reads up to `into.length` bytes at `position`; the number read (0 at the end). */
  readAt(into: Uint8Array, position: number): number;
  /** Frees the file. Idempotent. */
  close(): void;
}

/** Opens a new spool; tests give one that fails or counts. */
export type SpoolOpener = () => Spool;

const CREATE_PRIVATE = constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | (constants.O_NOFOLLOW ?? 0);

/** A spool in `dir` (default: the system's temporary directory). */
export function fileSpoolOpener(dir: string = tmpdir()): SpoolOpener {
  return () => openFileSpool(dir);
}

export function openFileSpool(dir: string): Spool {
  const path = join(dir, `filter-rules-msg-${randomBytes(12).toString('hex')}`);
  const fd = openSync(path, CREATE_PRIVATE, 0o600);
  try {
    unlinkSync(path);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  let length = 0;
  let open = true;
  return {
    append(bytes) {
      if (!open) throw new Error('spool is closed');
      let done = 0;
      while (done < bytes.length) {
        done += writeSync(fd, bytes, done, bytes.length - done, length + done);
      }
      length += bytes.length;
    },
    readAt(into, position) {
      if (!open) throw new Error('spool is closed');
      return readSync(fd, into, 0, into.length, position);
    },
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
