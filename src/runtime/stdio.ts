/**
 * The thin stream edge of the host: feed stdin chunks in, report stdout
 * errors (EPIPE when smtpd is gone), and resolve when stdin ends and the host
 * has shut down. The CLI passes process.stdin/stdout; tests pass PassThroughs.
 *
 * Backpressure: when smtpd stops reading our answers, stdout's buffer fills
 * (`writableNeedDrain`); stdin is then paused until stdout drains, as
 * stream.pipe() would. Without it a data-line flood would pile its echo up in
 * our memory without bound (every line read is a line to write); with it the
 * surplus waits in the socket and in smtpd. Reading resumes on 'drain', and
 * also when stdout fails or closes: smtpd is gone, and stdin's EOF must still
 * be read so the filter exits.
 */
import type { FilterHost } from './host.js';

export interface InputStream {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** Stop and restart 'data' events (Readable streams have them); without them there is no backpressure. */
  pause?(): unknown;
  resume?(): unknown;
}

export interface ErrorSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** Writable streams: true after write() returned false, until 'drain'. */
  readonly writableNeedDrain?: boolean;
  once?(event: 'drain' | 'close', listener: () => void): unknown;
}

export function runOnStreams(host: FilterHost, input: InputStream, output: ErrorSource): Promise<void> {
  let paused = false;
  let outputGone = false;
  const resumeInput = (): void => {
    if (!paused) return;
    paused = false;
    input.resume?.();
  };
  output.on('error', (error) => {
    outputGone = true;
    host.outputFailed(error);
    resumeInput();
  });
  output.once?.('close', () => {
    outputGone = true;
    resumeInput();
  });
  // Runs after the writer's end-of-tick flush of what this chunk produced (queued later).
  const checkOutput = (): void => {
    if (paused || outputGone || output.writableNeedDrain !== true || input.pause === undefined || output.once === undefined) return;
    paused = true;
    input.pause();
    output.once('drain', resumeInput);
  };
  return new Promise<void>((resolve) => {
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      resumeInput();
      host.end().then(resolve, resolve);
    };
    input.on('data', (chunk) => {
      host.feed(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
      queueMicrotask(checkOutput);
    });
    input.on('end', finish);
    input.on('close', finish);
    // A read error on stdin means smtpd's end of the socket is gone: same as EOF.
    input.on('error', finish);
  });
}
