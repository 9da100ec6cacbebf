/**
 * In-memory stand-ins for policy server sockets. A FakeSocket records what
 * the client wrote and lets the test play the server: connect, answer,
 * close, fail. Nothing here touches the network or real time.
 */
import { EventEmitter } from 'node:events';
import type { PolicyAddress } from '../../../src/model/address.js';
import type { SessionFacts } from '../../../src/model/plan.js';
import { formatPolicyAddress } from '../../../src/model/address.js';
import type { PolicyConnector, PolicySocket } from '../../../src/policy/connection.js';

export class FakeSocket extends EventEmitter implements PolicySocket {
  readonly written: string[] = [];
  destroyed = false;
  refed = true;

  constructor(readonly address: PolicyAddress) {
    super();
  }

  write(data: string): boolean {
    if (this.destroyed) throw new Error('write after destroy');
    this.written.push(data);
    return true;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    // net.Socket reports 'close' asynchronously after destroy().
    queueMicrotask(() => this.emit('close'));
  }

  ref(): void {
    this.refed = true;
  }

  unref(): void {
    this.refed = false;
  }

  // --- the server's side ---

  accept(): void {
    this.emit('connect');
  }

  /** Text is sent as UTF-8; bytes as they are (answers that are not UTF-8). */
  answer(text: string | Uint8Array): void {
    this.emit('data', typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text));
  }

  /** The server closes its end. */
  hangUp(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }

  refuse(code = 'ECONNREFUSED'): void {
    const e = Object.assign(new Error(`connect ${code}`), { code });
    this.destroyed = true;
    this.emit('error', e);
    this.emit('close');
  }

  /** Requests written so far, split into attribute maps. */
  requests(): Map<string, string>[] {
    return parseRequests(this.written.join(''));
  }
}

export function parseRequests(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  for (const block of text.split('\n\n')) {
    if (block === '') continue;
    const m = new Map<string, string>();
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=');
      m.set(line.slice(0, eq), line.slice(eq + 1));
    }
    out.push(m);
  }
  return out;
}

export type FakeMode = 'accept' | 'pending' | 'refuse';

/** Hands out FakeSockets; `mode` says what a new connection does at once. */
export class FakeNetwork {
  readonly sockets: FakeSocket[] = [];
  mode: FakeMode = 'accept';
  /** Called for every new socket after `mode` was applied (to script a server). */
  onSocket: ((s: FakeSocket) => void) | null = null;

  readonly connect: PolicyConnector = (address) => {
    const s = new FakeSocket(address);
    this.sockets.push(s);
    const mode = this.mode;
    // Like net, outcomes of connecting are reported asynchronously.
    queueMicrotask(() => {
      if (mode === 'accept') s.accept();
      else if (mode === 'refuse') s.refuse();
      this.onSocket?.(s);
    });
    return s;
  };

  socketsTo(address: PolicyAddress): FakeSocket[] {
    const key = formatPolicyAddress(address);
    return this.sockets.filter((s) => formatPolicyAddress(s.address) === key);
  }

  live(): FakeSocket[] {
    return this.sockets.filter((s) => !s.destroyed);
  }
}

/** Let queued microtasks and promise reactions run (no timers, no real waiting). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function facts(overrides: Partial<SessionFacts> = {}): SessionFacts {
  return {
    sessionId: '0123456789abcdef',
    src: '192.0.2.10',
    srcPort: 40000,
    dest: '198.51.100.1',
    destPort: 25,
    local: false,
    rdns: 'mx.example.net',
    fcrdns: 'pass',
    helo: 'mx.example.net',
    heloMethod: 'EHLO',
    mailFrom: 'alice@sender.example',
    rcptTo: 'bob@rcpt.example',
    recipients: [],
    messageId: '0badcafe',
    authUser: null,
    tls: null,
    size: null,
    ...overrides,
  };
}
