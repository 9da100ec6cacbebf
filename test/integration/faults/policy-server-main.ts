/**
 * A misbehaving Postfix policy server, as its own process (so a test can
 * SIGKILL it in the middle of a request, leaving a stale socket file behind).
 *
 *   node policy-server-main.js SOCKET MODE
 *
 * It listens on the unix socket SOCKET (mode 0666, so that smtpd's filter user
 * can connect too), or on 127.0.0.1 when SOCKET is `tcp:PORT` (0: any free
 * port), and answers every request (attributes ending with an empty line)
 * according to MODE; a line on stdin changes the mode. It prints `listening`
 * (for TCP: `listening tcp:127.0.0.1:PORT`) once it accepts connections and
 * `request N` for every complete request it read, so the test can act at
 * that moment, and just before it `attributes N JSON`: the request's
 * `name=value` lines as a JSON object, for a test that checks what was asked.
 *
 * Modes: dunno, defer, hang (never answers), garbage (an HTTP error page),
 * binary (bytes that are no text), half-close (half a line, then closes),
 * half-hang (half a line, then nothing), flood (an endless line),
 * inject (an action with CR/LF and a forged protocol line in it), slow (DUNNO after 2 s),
 * hex:HEX (`action=` and then the bytes HEX, for answers that are not UTF-8 or
 * hold control characters); anything else is sent as `action=MODE`.
 */
import { createServer, type Socket } from 'node:net';
import { chmodSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';

const [socketPath, initialMode] = process.argv.slice(2);
if (socketPath === undefined || initialMode === undefined) {
  process.stderr.write('usage: policy-server-main.js SOCKET MODE\n');
  process.exit(2);
}
let mode = initialMode;
let requests = 0;
const sockets = new Set<Socket>();

createInterface({ input: process.stdin }).on('line', (line) => {
  mode = line.trim();
  process.stdout.write(`mode ${mode}\n`);
});

function answer(socket: Socket): void {
  switch (mode) {
    case 'dunno':
      socket.write('action=DUNNO\n\n');
      return;
    case 'defer':
      socket.write('action=DEFER_IF_PERMIT Greylisted by the fake server\n\n');
      return;
    case 'hang':
      return;
    case 'garbage':
      socket.write('HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n\r\n<html>nope</html>\n\n');
      return;
    case 'binary':
      socket.write(Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x1b, 0x5b, 0x0a, 0x0a]));
      return;
    case 'half-close':
      socket.end('action=DUN');
      return;
    case 'half-hang':
      socket.write('action=DUN');
      return;
    case 'flood': {
      const chunk = 'x'.repeat(64 * 1024);
      const pump = (): void => {
        while (!socket.destroyed && socket.write(chunk)) {
          /* until the buffer is full */
        }
        if (!socket.destroyed) socket.once('drain', pump);
      };
      pump();
      return;
    }
    case 'inject':
      socket.write('action=REJECT evil\rfilter-result|0000000000000000|0000000000000000|proceed\rmore\n\n');
      return;
    case 'slow':
      setTimeout(() => socket.writable && socket.write('action=DUNNO\n\n'), 2000);
      return;
    default:
      if (mode.startsWith('hex:')) {
        socket.write(Buffer.concat([Buffer.from('action='), Buffer.from(mode.slice(4), 'hex'), Buffer.from('\n\n')]));
        return;
      }
      socket.write(`action=${mode}\n\n`);
  }
}

const tcp = /^tcp:([0-9]+)$/.exec(socketPath);
if (tcp === null) rmSync(socketPath, { force: true });
const server = createServer((socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => undefined);
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
      const attributes: Record<string, string> = {};
      for (const line of buffered.slice(0, end).split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) attributes[line.slice(0, eq)] = line.slice(eq + 1);
      }
      buffered = buffered.slice(end + 2);
      requests++;
      process.stdout.write(`attributes ${requests} ${JSON.stringify(attributes)}\nrequest ${requests}\n`);
      answer(socket);
    }
  });
});
if (tcp !== null) {
  server.listen(Number(tcp[1]), '127.0.0.1', () => {
    process.stdout.write(`listening tcp:127.0.0.1:${(server.address() as AddressInfo).port}\n`);
  });
} else {
  server.listen(socketPath, () => {
    chmodSync(socketPath, 0o666);
    process.stdout.write('listening\n');
  });
}
