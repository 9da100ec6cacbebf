/**
 * `filter-rules test` and `filter-rules replay`, given compiled rules (the
 * CLI compiles them exactly as the filter does) and injected I/O.
 * Exit codes: 0 done (replay: and matching --expect), 1 a difference or an
 * unreadable file, 2 is left to usage mistakes (the CLI's).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { CompiledChain, CompiledRules } from '../model/plan.js';
import type { ReplayCommand, TestCommand } from './args.js';
import { diffListing } from './expect.js';
import { formatReplay, runReplay, type TranscriptFile } from './replay.js';
import { formatTestReport } from './test/report.js';
import { runTestSession } from './test/simulate.js';

export interface ToolIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly readFile?: (path: string) => Buffer;
  readonly writeFile?: (path: string, text: string) => void;
  /** Wall clock at the start of virtual time (online: now, so stores see real dates). */
  readonly now?: () => number;
  /** The effective user id, to warn root that a store may create files the filter cannot use. */
  readonly uid?: number | null;
}

export interface ToolRules {
  readonly rules: CompiledRules;
  readonly chain: CompiledChain;
  readonly warnings: readonly string[];
  readonly sources: ReadonlyMap<string, string>;
}

/** Offline runs start at a fixed time, so their listings never change between runs. */
export const OFFLINE_EPOCH_MS = Date.UTC(2026, 0, 1, 0, 0, 0);

function usesGreylistStore(chain: CompiledChain): boolean {
  return chain.steps.some((s) => s.action.kind === 'greylist');
}

export async function runTestCommand(cmd: TestCommand, loaded: ToolRules, io: ToolIo): Promise<number> {
  const mode = cmd.offline ? 'offline' : 'online';
  if (mode === 'online' && (io.uid ?? null) === 0 && usesGreylistStore(loaded.chain)) {
    io.err(
      'filter-rules test: note: running as root with a greylist step: a store file created now belongs to root, ' +
        'and the filter (user opensmtpd) could not write it. Run as the filter\'s user (sudo -u opensmtpd ...) or use --offline.\n',
    );
  }
  const report = await runTestSession(loaded, cmd.session, {
    mode,
    startWallMs: mode === 'offline' ? OFFLINE_EPOCH_MS : (io.now ?? Date.now)(),
  });
  io.out(formatTestReport({ ...report, rulesFile: cmd.rulesFile }, loaded.sources));
  return 0;
}

export async function runReplayCommand(cmd: ReplayCommand, loaded: ToolRules, io: ToolIo): Promise<number> {
  const read = io.readFile ?? ((path: string) => readFileSync(path));
  const files: TranscriptFile[] = [];
  for (const path of cmd.transcripts) {
    try {
      files.push({ name: basename(path), data: read(path) });
    } catch (error) {
      io.err(`filter-rules replay: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
  }
  const mode = cmd.online ? 'online' : 'offline';
  const report = await runReplay(loaded, files, { mode, startWallMs: mode === 'offline' ? OFFLINE_EPOCH_MS : (io.now ?? Date.now)() });
  const header =
    `filter-rules replay: ${basename(cmd.rulesFile)}, chain "${loaded.chain.name}", ` +
    `${files.map((f) => f.name).join(' ')}; ${mode === 'offline' ? 'offline (policy servers and greylist stores not asked)' : 'online'}`;
  const listing = formatReplay(report, header);
  const failed = report.unanswered > 0 ? 1 : 0;
  if (cmd.expect === null) {
    io.out(listing);
    return failed;
  }
  if (cmd.updateExpect) {
    try {
      (io.writeFile ?? ((p: string, t: string) => writeFileSync(p, t)))(cmd.expect, listing);
    } catch (error) {
      io.err(`filter-rules replay: cannot write ${cmd.expect}: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    io.out(`${cmd.expect}: written (${report.sessions.length} session(s), ${report.requests} request(s))\n`);
    return failed;
  }
  let expected: string;
  try {
    expected = read(cmd.expect).toString('utf8');
  } catch (error) {
    io.err(
      `filter-rules replay: cannot read ${cmd.expect}: ${error instanceof Error ? error.message : String(error)} ` +
        '(write it with --update-expect)\n',
    );
    return 1;
  }
  const diff = diffListing(expected, listing, { expected: cmd.expect, got: 'replay' });
  if (diff === null) {
    io.out(`${cmd.expect}: decisions as expected (${report.sessions.length} session(s), ${report.requests} request(s))\n`);
    return failed;
  }
  io.out(diff);
  io.out(`${cmd.expect}: decisions differ from the expectation (run with --update-expect to accept them)\n`);
  return 1;
}
