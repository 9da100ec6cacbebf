/**
 * Who else could change the rules? The rules file and its list files decide
 * what happens to every mail, and the filter reloads them on its own when
 * they change: a file others can write is a way into the mail server. This
 * finds, without changing anything:
 *
 *  - a file writable by every user (mode o+w);
 *  - a file writable by a group that is neither root's (gid 0) nor its
 *    owner's own (primary) group — e.g. `root:staff 0664`;
 *  - a directory on the way to it that every user can write to, without the
 *    sticky bit (anyone could replace the file).
 *
 * Only warnings: the admin may have reasons. The file system is injected, so
 * tests need no chown; the CLI logs them at start and `check` prints them.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface FileInfo {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export interface FileSafetyDeps {
  /** stat(2) of a path; throws when it cannot be read (then nothing is said about it). */
  readonly stat: (path: string) => FileInfo;
  /** The primary group of a user id, or null when unknown. */
  readonly primaryGid: (uid: number) => number | null;
  /** Names for messages; null when unknown (the number is shown). */
  readonly userName: (uid: number) => string | null;
  readonly groupName: (gid: number) => string | null;
}

export type FileSafetyProblem = 'world-writable' | 'group-writable' | 'directory-world-writable';

export interface FileSafetyWarning {
  /** The file or directory at fault. */
  readonly path: string;
  /** The rules or list file it concerns. */
  readonly file: string;
  readonly problem: FileSafetyProblem;
  /** Permission bits, octal as `ls` would show (`0664`). */
  readonly mode: string;
  /** One line for people: what, why it matters, how to fix. */
  readonly message: string;
}

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

/** Warnings for the given files (the rules file and its list files), each problem once. */
export function checkFileSafety(files: readonly string[], deps: FileSafetyDeps = systemFileSafetyDeps()): FileSafetyWarning[] {
  const out: FileSafetyWarning[] = [];
  const seenDirs = new Set<string>();
  for (const raw of files) {
    const file = resolve(raw);
    let info: FileInfo;
    try {
      info = deps.stat(file);
    } catch {
      continue; // missing or unreadable: the compiler already says so
    }
    if ((info.mode & 0o002) !== 0) {
      out.push({
        path: file,
        file,
        problem: 'world-writable',
        mode: octal(info.mode),
        message: `writable by every user on this host (mode ${octal(info.mode)}): anyone could change what the mail filter does; fix: chmod o-w ${file}`,
      });
    } else if ((info.mode & 0o020) !== 0 && info.gid !== 0 && info.gid !== deps.primaryGid(info.uid)) {
      const group = deps.groupName(info.gid) ?? String(info.gid);
      const owner = deps.userName(info.uid) ?? String(info.uid);
      out.push({
        path: file,
        file,
        problem: 'group-writable',
        mode: octal(info.mode),
        message: `writable by group "${group}" (mode ${octal(info.mode)}), which is neither root's group nor its owner ${owner}'s: its members could change what the mail filter does; fix: chmod g-w ${file}`,
      });
    }
    for (let dir = dirname(file); ; dir = dirname(dir)) {
      if (!seenDirs.has(dir)) {
        seenDirs.add(dir);
        try {
          const d = deps.stat(dir);
          if ((d.mode & 0o002) !== 0 && (d.mode & 0o1000) === 0) {
            out.push({
              path: dir,
              file,
              problem: 'directory-world-writable',
              mode: octal(d.mode),
              message: `directory writable by every user, without the sticky bit (mode ${octal(d.mode)}): anyone could replace ${file}; fix: chmod o-w ${dir}`,
            });
          }
        } catch {
          // unreadable directory: nothing to say
        }
      }
      if (dirname(dir) === dir) break;
    }
  }
  return out;
}

/** `name:x:uid:gid:...` lines of /etc/passwd or /etc/group, parsed once. */
function table(path: string): string[][] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

/** The real file system and account databases (/etc/passwd, /etc/group). */
export function systemFileSafetyDeps(): FileSafetyDeps {
  let passwd: string[][] | null = null;
  let group: string[][] | null = null;
  const users = (): string[][] => (passwd ??= table('/etc/passwd'));
  const groups = (): string[][] => (group ??= table('/etc/group'));
  return {
    stat: (path) => {
      const s = statSync(path);
      return { mode: s.mode, uid: s.uid, gid: s.gid };
    },
    primaryGid: (uid) => {
      const row = users().find((r) => Number(r[2]) === uid);
      return row?.[3] !== undefined && row[3] !== '' ? Number(row[3]) : null;
    },
    userName: (uid) => users().find((r) => Number(r[2]) === uid)?.[0] ?? null,
    groupName: (gid) => groups().find((r) => Number(r[2]) === gid)?.[0] ?? null,
  };
}
