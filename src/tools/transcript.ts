/**
 * Reading transcripts: `> LINE` is a line smtpd sent (fed to the filter),
 * `< LINE` a line the filter answered (ignored: replay makes its own), and
 * anything else (`# notes`, blank lines) is skipped. The format of
 * `--record FILE` and of test/fixtures/transcripts. Bytes are kept as they
 * were, so a line that is not UTF-8 reaches the filter unchanged.
 *
 * A file may hold several runs of the filter (a record file is appended to
 * at every start): a `config|` line after traffic starts a new run, which
 * replay feeds to a fresh filter. A run without a handshake (an excerpt of
 * one session) gets smtpd 6.8's.
 */
import { configLines, SMTPD_68 } from '../protocol/lines.js';
import { INPUT_PREFIX } from '../runtime/recorder.js';

export interface TranscriptInput {
  /** 1-based line number in the file. */
  readonly lineNo: number;
  /** The line smtpd sent, without the prefix and the newline. */
  readonly bytes: Buffer;
}

export interface TranscriptRun {
  readonly inputs: readonly TranscriptInput[];
  /** The run has its own handshake (`config|ready`). */
  readonly hasHandshake: boolean;
}

/** What smtpd 6.8.0p2 (Debian 12) sends first, for runs recorded without it. */
export const DEFAULT_HANDSHAKE: readonly string[] = configLines(SMTPD_68);

const PREFIX = Buffer.from(INPUT_PREFIX);
const CONFIG = Buffer.from('config|');
const READY = 'config|ready';

export function parseTranscript(data: Buffer): TranscriptRun[] {
  const runs: TranscriptRun[] = [];
  let inputs: TranscriptInput[] = [];
  let traffic = false;
  let ready = false;
  const close = (): void => {
    if (inputs.length > 0) runs.push({ inputs, hasHandshake: ready });
    inputs = [];
    traffic = false;
    ready = false;
  };
  let start = 0;
  let lineNo = 0;
  while (start < data.length) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    lineNo++;
    let line = data.subarray(start, end);
    start = end + 1;
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    if (!startsWith(line, PREFIX)) continue;
    const bytes = Buffer.from(line.subarray(PREFIX.length));
    const isConfig = startsWith(bytes, CONFIG);
    if (isConfig && traffic) close();
    if (!isConfig) traffic = true;
    if (bytes.toString('latin1') === READY) ready = true;
    inputs.push({ lineNo, bytes });
  }
  close();
  return runs;
}

function startsWith(data: Buffer, prefix: Buffer): boolean {
  return data.length >= prefix.length && data.subarray(0, prefix.length).equals(prefix);
}
