/**
 * The soak test's mail senders, run as one process inside smtpd's network
 * namespace (`nsenter -t PID -n node soak-client.js '<SoakClientConfig JSON>'`).
 *
 * `workers` loops send messages for `durationMs`, each message of a scenario
 * picked in turn (a normal sender, a greylisted one, a bare-IP HELO, ...).
 * Like an MTA's queue, a message refused with a 4xx is tried again later (up
 * to `maxAttempts`); a 5xx or a disconnect ends it. Every reply is recorded.
 * One JSON line per message on stdout (a SoakMessage), then a summary line.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { encodeMessage, ReplyAssembler } from '../e2e/harness/dialog.js';

export const SCENARIOS = ['normal', 'trusted', 'junk', 'postgrey', 'greylist', 'bare-ip', 'blocked', 'unknown-user'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface SoakClientConfig {
  readonly host: string;
  readonly port: number;
  readonly workers: number;
  readonly durationMs: number;
  readonly runId: string;
  /** Source address of the trusted scenario; the others use 127.0.0.1. */
  readonly trustedAddress: string;
  readonly recipient: string;
  readonly maxAttempts: number;
  /** Wait before trying a 4xx-refused message again. */
  readonly retryDelayMs: number;
  /** Per reply; a longer wait is recorded as a timeout (a hang). */
  readonly replyTimeoutMs: number;
}

export interface SoakReply {
  readonly step: string;
  readonly code: number;
  readonly text: string;
}

export interface SoakAttempt {
  readonly replies: readonly SoakReply[];
  /** Connection error, a reply timeout, or the server closing unexpectedly. */
  readonly error: string | null;
}

export interface SoakMessage {
  readonly kind: 'message';
  readonly scenario: Scenario;
  /** Unique; in the Subject and Message-Id of the message. */
  readonly marker: string;
  readonly attempts: readonly SoakAttempt[];
  /** accepted: a 250 after the message data; refused: a 5xx or a disconnect; gave-up: still 4xx after maxAttempts. */
  readonly outcome: 'accepted' | 'refused' | 'gave-up';
}

export interface SoakSummary {
  readonly kind: 'summary';
  readonly messages: number;
  readonly sessions: number;
  readonly elapsedMs: number;
}

interface Plan {
  readonly helo: string;
  readonly from: string;
  readonly to: string;
  readonly local: string;
}

/**
 * Greylisted senders come from a /24 of their own (all of 127/8 is local), as
 * new senders on the Internet do: otherwise the greylisting's client
 * auto-whitelist would let them all through after five.
 */
function freshNetwork(worker: number, n: number): string {
  return `127.${20 + (worker % 200)}.${n % 250}.7`;
}

function plan(scenario: Scenario, marker: string, c: SoakClientConfig, worker: number, n: number): Plan {
  const base = { helo: 'mail.client.example', from: `alice-${marker}@client.example`, to: c.recipient, local: '127.0.0.1' };
  switch (scenario) {
    case 'normal':
      return base;
    case 'trusted':
      return { ...base, local: c.trustedAddress };
    case 'junk':
      return { ...base, from: `junk-${marker}@client.example` };
    case 'postgrey':
      return { ...base, from: `pg-${marker}@client.example`, local: freshNetwork(worker, n) };
    case 'greylist':
      return { ...base, from: `gl-${marker}@client.example`, local: freshNetwork(worker, n) };
    case 'bare-ip':
      return { ...base, helo: '[192.0.2.77]' };
    case 'blocked':
      return { ...base, from: 'bulk@spam.example' };
    case 'unknown-user':
      return { ...base, to: 'nobody@localhost' };
  }
}

/** One SMTP session; resolves with every reply, and how it ended. */
function session(p: Plan, marker: string, c: SoakClientConfig): Promise<{ attempt: SoakAttempt; accepted: boolean; refusedBy: SoakReply | null }> {
  return new Promise((resolve) => {
    const replies: SoakReply[] = [];
    const assembler = new ReplyAssembler();
    let buffered = '';
    let socket: Socket | null = null;
    let finished = false;
    let timer: NodeJS.Timeout | null = null;
    let waiting: ((r: { code: number; text: string } | null) => void) | null = null;
    const queue: { code: number; text: string }[] = [];
    let closed = false;

    /** The reply that stopped the message (a 4xx or 5xx before the data was accepted). */
    let refusedBy: SoakReply | null = null;
    const done = (error: string | null, accepted: boolean): void => {
      if (finished) return;
      finished = true;
      if (timer !== null) clearTimeout(timer);
      socket?.destroy();
      resolve({ attempt: { replies, error }, accepted, refusedBy });
    };
    const next = (): Promise<{ code: number; text: string } | null> => {
      const r = queue.shift();
      if (r !== undefined) return Promise.resolve(r);
      if (closed) return Promise.resolve(null);
      return new Promise((res) => {
        waiting = res;
        timer = setTimeout(() => {
          waiting = null;
          res(null);
          done(`no reply within ${c.replyTimeoutMs} ms`, false);
        }, c.replyTimeoutMs);
      });
    };
    const deliver = (r: { code: number; text: string } | null): void => {
      if (waiting !== null) {
        const w = waiting;
        waiting = null;
        if (timer !== null) clearTimeout(timer);
        w(r);
      } else if (r !== null) queue.push(r);
    };

    socket = connect({ host: c.host, port: c.port, localAddress: p.local });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\r\n'); nl >= 0; nl = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        const r = assembler.push(line);
        if (r !== null) deliver({ code: r.code, text: r.lines.join('\n') });
      }
    });
    socket.on('close', () => {
      closed = true;
      deliver(null);
    });
    socket.on('error', (e) => done(`connection error: ${e.message}`, false));

    const message = [
      `From: <${p.from}>`,
      `To: <${p.to}>`,
      `Subject: ${marker}`,
      `Date: ${new Date().toUTCString()}`,
      `Message-Id: <${marker}@soak.test>`,
      '',
      `soak message ${marker}`,
      '.a line starting with a dot | and a pipe',
      '',
    ].join('\n');

    void (async () => {
      const step = async (name: string, send: string | null): Promise<{ code: number; text: string } | null> => {
        if (send !== null) socket?.write(send);
        const r = await next();
        if (r === null) {
          if (!finished) done(`server closed the connection after ${name} was sent`, false);
          return null;
        }
        replies.push({ step: name, code: r.code, text: r.text });
        return r;
      };
      const quit = async (): Promise<void> => {
        if (!closed) await step('QUIT', 'QUIT\r\n');
      };
      const banner = await step('banner', null);
      if (banner === null) return;
      if (banner.code !== 220) {
        refusedBy = replies.at(-1) ?? null;
        return done(null, false);
      }
      for (const [name, line] of [
        ['EHLO', `EHLO ${p.helo}\r\n`],
        ['MAIL', `MAIL FROM:<${p.from}>\r\n`],
        ['RCPT', `RCPT TO:<${p.to}>\r\n`],
        ['DATA', 'DATA\r\n'],
      ] as const) {
        const r = await step(name, line);
        if (r === null) return;
        const ok = name === 'DATA' ? r.code === 354 : r.code >= 200 && r.code < 300;
        if (!ok) {
          refusedBy = replies.at(-1) ?? null;
          // A 421 closes the session; otherwise say goodbye politely.
          if (r.code !== 421) await quit();
          return done(null, false);
        }
      }
      const r = await step('message', encodeMessage(message));
      if (r === null) return;
      if (r.code !== 250) refusedBy = replies.at(-1) ?? null;
      await quit();
      done(null, r.code === 250);
    })();
  });
}

async function worker(index: number, c: SoakClientConfig, until: number, out: (m: SoakMessage) => void, count: { sessions: number }): Promise<void> {
  for (let n = 0; Date.now() < until; n++) {
    const scenario = SCENARIOS[(index + n) % SCENARIOS.length] as Scenario;
    const marker = `soak-${c.runId}-${index}-${n}`;
    const p = plan(scenario, marker, c, index, n);
    const attempts: SoakAttempt[] = [];
    let outcome: SoakMessage['outcome'] = 'gave-up';
    for (let a = 0; a < c.maxAttempts; a++) {
      count.sessions++;
      const { attempt, accepted, refusedBy } = await session(p, marker, c);
      attempts.push(attempt);
      if (accepted) {
        outcome = 'accepted';
        break;
      }
      // A 5xx, or a 421 disconnect decided by the rules: final. A 4xx or a broken session: later again.
      if (attempt.error === null && refusedBy !== null && (refusedBy.code >= 500 || (refusedBy.code === 421 && !/4\.3\.0/.test(refusedBy.text)))) {
        outcome = 'refused';
        break;
      }
      await delay(c.retryDelayMs);
    }
    out({ kind: 'message', scenario, marker, attempts, outcome });
  }
}

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2] ?? '{}') as SoakClientConfig;
  const started = Date.now();
  const until = started + c.durationMs;
  let messages = 0;
  const count = { sessions: 0 };
  const out = (m: SoakMessage): void => {
    messages++;
    process.stdout.write(`${JSON.stringify(m)}\n`);
  };
  await Promise.all(Array.from({ length: c.workers }, (_, i) => worker(i, c, until, out, count)));
  const summary: SoakSummary = { kind: 'summary', messages, sessions: count.sessions, elapsedMs: Date.now() - started };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

// Run only as the client process (the test imports the types and scenario list).
if (process.argv[1]?.endsWith('soak-client.js') === true) {
  main().catch((e: unknown) => {
    process.stderr.write(`soak client failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(2);
  });
}
