/**
 * A tiny Redis stand-in on loopback TCP, for what a real redis-server will not
 * do: answer the greylist script with a reply that never ends. It speaks
 * enough RESP for ioredis (CLIENT, SELECT, INFO, PING, QUIT) and answers
 * EVALSHA/EVAL as its mode says:
 *
 *   greylist     a well-formed "greylisted, new" verdict (the script's reply)
 *   huge-bulk    `$2000000000` and then payload bytes, as fast as the socket takes them
 *   endless-line `+` and then bytes without a line end
 *   wide-array   `*200000` (a promise within 1 MiB) and then 100-byte bulk strings
 *   not-resp     an HTTP error page, as a web server on the Redis port would
 *
 * A hostile reply streams until the client drops the connection (or 4 GB);
 * `hostile` records, per reply, the bytes the socket accepted and whether
 * the client closed it.
 */
import { createServer, type Server, type Socket } from 'node:net';

export type FakeRedisMode = 'greylist' | 'huge-bulk' | 'endless-line' | 'wide-array' | 'not-resp';

export interface HostileReply {
  readonly mode: FakeRedisMode;
  /** Bytes handed to the socket so far (what the kernel took: the client read at most that). */
  written: number;
  /** The client closed the connection while the reply was streaming. */
  droppedByClient: boolean;
}

const STREAM_LIMIT = 4 * 1024 ** 3;
const FILL = Buffer.alloc(64 * 1024, 0x78);

/** Parses the client's commands (arrays of bulk strings) from a growing buffer. */
function takeCommand(buf: Buffer): { args: string[]; rest: Buffer } | null {
  if (buf.length === 0) return null;
  if (buf[0] !== 0x2a) throw new Error(`fake redis: unexpected command byte ${buf[0]}`);
  let at = buf.indexOf('\r\n');
  if (at === -1) return null;
  const n = Number(buf.subarray(1, at).toString('latin1'));
  let pos = at + 2;
  const args: string[] = [];
  for (let i = 0; i < n; i++) {
    at = buf.indexOf('\r\n', pos);
    if (at === -1) return null;
    const len = Number(buf.subarray(pos + 1, at).toString('latin1'));
    const start = at + 2;
    if (buf.length < start + len + 2) return null;
    args.push(buf.subarray(start, start + len).toString('utf8'));
    pos = start + len + 2;
  }
  return { args, rest: buf.subarray(pos) };
}

const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;

export class FakeRedis {
  mode: FakeRedisMode = 'greylist';
  /** Connections accepted so far. */
  connections = 0;
  /** Script calls answered (any mode). */
  scriptCalls = 0;
  readonly hostile: HostileReply[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<FakeRedis> {
    let fake: FakeRedis | null = null;
    const server = createServer((socket) => fake?.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('fake redis: no port');
    fake = new FakeRedis(server, addr.port);
    return fake;
  }

  url(db = 0): string {
    return `redis://127.0.0.1:${this.port}/${db}`;
  }

  /** Bytes handed to sockets in all hostile replies. */
  get hostileBytes(): number {
    return this.hostile.reduce((sum, h) => sum + h.written, 0);
  }

  private serve(socket: Socket): void {
    this.connections++;
    this.sockets.add(socket);
    let buf: Buffer = Buffer.alloc(0);
    let streaming = false;
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      if (streaming) return;
      buf = Buffer.concat([buf, chunk]);
      for (let cmd = takeCommand(buf); cmd !== null && !streaming; cmd = takeCommand(buf)) {
        buf = cmd.rest;
        streaming = this.answer(socket, cmd.args);
      }
    });
  }

  /** Answers one command; true when it started a hostile reply (the connection then only streams). */
  private answer(socket: Socket, args: string[]): boolean {
    const name = (args[0] ?? '').toLowerCase();
    switch (name) {
      case 'client':
      case 'select':
        socket.write('+OK\r\n');
        return false;
      case 'ping':
        socket.write('+PONG\r\n');
        return false;
      case 'info':
        socket.write(bulk('# Server\r\nredis_version:7.0.15\r\n# Persistence\r\nloading:0\r\n'));
        return false;
      case 'quit':
        socket.end('+OK\r\n');
        return false;
      case 'evalsha':
      case 'eval':
        this.scriptCalls++;
        return this.script(socket, args);
      default:
        socket.write(`-ERR unknown command '${name}'\r\n`);
        return false;
    }
  }

  private script(socket: Socket, args: string[]): boolean {
    switch (this.mode) {
      case 'greylist': {
        // EVALSHA sha 2 key key now delay …
        const now = args[5] ?? '0';
        const delay = args[6] ?? '0';
        socket.write(`*4\r\n${bulk('greylist')}${bulk('new')}${bulk(delay)}${bulk(now)}`);
        return false;
      }
      case 'not-resp':
        socket.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
        return false;
      case 'huge-bulk':
        this.stream(socket, '$2000000000\r\n', () => FILL);
        return true;
      case 'endless-line':
        this.stream(socket, '+', () => FILL);
        return true;
      case 'wide-array': {
        const element = Buffer.from(bulk('y'.repeat(100)));
        const batch = Buffer.concat(Array.from({ length: 600 }, () => element));
        this.stream(socket, '*200000\r\n', () => batch);
        return true;
      }
    }
  }

  /** Writes `head`, then `more()` for as long as the socket takes it, honouring backpressure. */
  private stream(socket: Socket, head: string, more: () => Buffer): void {
    const reply: HostileReply = { mode: this.mode, written: 0, droppedByClient: false };
    this.hostile.push(reply);
    socket.once('close', () => (reply.droppedByClient = reply.written < STREAM_LIMIT));
    const pump = (): void => {
      while (!socket.destroyed && reply.written < STREAM_LIMIT) {
        const chunk = more();
        reply.written += chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!socket.destroyed) socket.end();
    };
    socket.write(head);
    reply.written += head.length;
    pump();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
