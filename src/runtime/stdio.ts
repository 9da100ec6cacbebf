/**
 * The thin stream edge of the host: feed stdin chunks in, report stdout
 * errors (EPIPE when smtpd is gone), and resolve when stdin ends and the host
 * has shut down. The CLI passes process.stdin/stdout; tests pass PassThroughs.
 */
import type { FilterHost } from './host.js';

export interface InputStream {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface ErrorSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export function runOnStreams(host: FilterHost, input: InputStream, output: ErrorSource): Promise<void> {
  output.on('error', (error) => host.outputFailed(error));
  return new Promise<void>((resolve) => {
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      host.end().then(resolve, resolve);
    };
    input.on('data', (chunk) => host.feed(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk));
    input.on('end', finish);
    input.on('close', finish);
    // A read error on stdin means smtpd's end of the socket is gone: same as EOF.
    input.on('error', finish);
  });
}
