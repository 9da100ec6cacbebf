/**
 * A scripted SMTP client, run as its own process inside smtpd's network namespace
 * (`nsenter -t SMTPD_PID -n node smtp-client.js '<DialogScript JSON>'`): the test
 * process cannot enter another network namespace itself. Prints one DialogResult as
 * JSON on stdout and exits 0, whatever the server did; only a bad script exits 2.
 *
 * Times are measured here, next to the socket, so spawning this process does not
 * blur the banner timings the tests assert on.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { DialogResult, DialogScript, Exchange, Reply } from './dialog.js';
import { ReplyAssembler, encodeMessage } from './dialog.js';

/** How long to wait for the server to close after the last step before closing ourselves. */
const LINGER_MS = 5000;
/** How often a `hold` step looks for its release file. */
const HOLD_POLL_MS = 20;

function run(script: DialogScript): Promise<DialogResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const startedAtEpochMs = Date.now();
    let connectMs = 0;
    let eofAt: number | null = null;
    let error: string | null = null;
    let timedOut = false;
    let finished = false;
    let banner: Reply | null = null;
    const exchanges: Exchange[] = [];
    const unsolicited: Reply[] = [];

    const queue: Reply[] = [];
    let waiter: ((r: Reply | null) => void) | null = null;
    let eofWaiter: (() => void) | null = null;
    const assembler = new ReplyAssembler();
    let buffered = '';

    // Measured from *starting* to connect, not from the 'connect' event: that event
    // can run late on a busy machine, after smtpd already accepted the connection and
    // asked the filter. From the start, a banner can never look earlier than the pause.
    const since = (): number => Math.round((performance.now() - started) * 10) / 10;

    const socket = connect({
      host: script.host,
      port: script.port,
      ...(script.localAddress === undefined ? {} : { localAddress: script.localAddress }),
    });
    socket.setEncoding('latin1');

    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(overall);
      socket.destroy();
      unsolicited.push(...queue.splice(0));
      resolve({ connectMs, startedAtEpochMs, banner, unsolicited, exchanges, closedByServer: eofAt !== null, eofAt, timedOut, error });
    };
    const overall = setTimeout(() => {
      timedOut = true;
      finish();
    }, script.timeoutMs);

    const deliver = (r: Reply | null): void => {
      if (r !== null) {
        if (waiter !== null) {
          const w = waiter;
          waiter = null;
          w(r);
        } else queue.push(r);
      } else if (waiter !== null) {
        const w = waiter;
        waiter = null;
        w(null);
      }
    };
    const nextReply = (): Promise<Reply | null> => {
      const r = queue.shift();
      if (r !== undefined) return Promise.resolve(r);
      if (eofAt !== null || finished) return Promise.resolve(null);
      return new Promise((res) => {
        waiter = res;
      });
    };
    const waitEof = (ms: number): Promise<void> =>
      eofAt !== null
        ? Promise.resolve()
        : new Promise((res) => {
            const t = setTimeout(res, ms);
            eofWaiter = () => {
              clearTimeout(t);
              res();
            };
          });
    const send = (text: string): void => {
      if (eofAt === null && !socket.destroyed) socket.write(text, 'latin1');
    };

    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        const done = assembler.push(line);
        if (done !== null) deliver({ code: done.code, lines: done.lines, at: since() });
      }
    });
    socket.on('end', () => {
      eofAt = since();
      deliver(null);
      if (eofWaiter !== null) eofWaiter();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
      if (eofAt === null) eofAt = since();
      deliver(null);
      if (eofWaiter !== null) eofWaiter();
      if (banner === null && exchanges.length === 0) finish();
    });

    socket.on('connect', () => {
      connectMs = since();
      if (script.early !== undefined) send(script.early);
      void converse();
    });

    const converse = async (): Promise<void> => {
      banner = await nextReply();
      if (banner !== null && banner.code === 220) {
        for (const step of script.steps) {
          if (eofAt !== null) break;
          if (step.kind === 'hold') {
            writeFileSync(step.reachedFile, `${since()}\n`);
            while (!finished && eofAt === null && !existsSync(step.releaseFile)) await delay(HOLD_POLL_MS);
            continue;
          }
          const sent = step.kind === 'command' ? step.line : '<message>';
          send(step.kind === 'command' ? `${step.line}\r\n` : encodeMessage(step.text));
          const reply = await nextReply();
          exchanges.push({ sent, reply });
          if (reply === null || reply.code === 421) break;
          if (reply.code >= 400 && (script.quitOnError ?? true)) {
            if (step.kind === 'command' && step.line.toUpperCase() === 'QUIT') break;
            send('QUIT\r\n');
            exchanges.push({ sent: 'QUIT', reply: await nextReply() });
            break;
          }
        }
      }
      await waitEof(LINGER_MS);
      finish();
    };
  });
}

const arg = process.argv[2];
if (arg === undefined) {
  process.stderr.write('usage: smtp-client.js <DialogScript JSON>\n');
  process.exit(2);
}
const result = await run(JSON.parse(arg) as DialogScript);
process.stdout.write(`${JSON.stringify(result)}\n`);
