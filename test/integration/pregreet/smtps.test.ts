/**
 * pregreet and implicit TLS through the real filter process
 * (`node dist/src/cli/main.js --smtps-ports P RULES`), reading the real
 * kernel socket table. Two listening sockets stand in for smtpd's listeners:
 * like smtpd before the banner, they never read. A real TLS client connects
 * to each, so its ClientHello waits in the receive queue, and the filter is
 * fed the smtps session recorded from smtpd 7.8
 * (test/fixtures/transcripts/smtpd-7.8/01-smtps-pregreet.txt) with that
 * connection's addresses:
 *
 *  - to the port named in --smtps-ports the connect answer is `proceed`,
 *    after the whole pause, and the rest of the session goes through;
 *  - to the other port the same bytes are early talk: `disconnect|554 …`,
 *    long before the pause would end (so the first result is not just a
 *    socket table the filter could not read).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { CliFilter, waitFor } from '../faults/live.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const RECORDING = new URL('../../../../test/fixtures/transcripts/smtpd-7.8/01-smtps-pregreet.txt', import.meta.url);
const PAUSE_MS = 3000;
const REPLY = '554 5.5.1 Protocol error: data sent before the greeting';

/** A listener that accepts and never reads, as smtpd before its banner. */
async function mute(): Promise<{ server: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port, accepted };
}

/** A TLS client whose ClientHello has reached the kernel; returns its local port. */
async function tlsClient(port: number, open: TLSSocket[]): Promise<number> {
  const raw = tcpConnect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => raw.once('connect', resolve).once('error', reject));
  const tls = tlsConnect({ socket: raw, servername: 'mail.test', rejectUnauthorized: false });
  tls.on('error', () => undefined);
  open.push(tls);
  await waitFor(() => raw.bytesWritten > 0 && raw.writableLength === 0, 5000, 'the ClientHello to be written');
  const local = raw.localPort;
  if (local === undefined) throw new Error('no local port');
  return local;
}

interface Replayed {
  /** Each request's answer (the part after session|token|), in order, and its time from the request. */
  readonly answers: ReadonlyArray<{ readonly phase: string; readonly decision: string; readonly ms: number }>;
}

let sessions = 0;

/**
 * Replays the recorded session as smtpd sent it (`> ` lines, in order, each
 * request after the answer to the one before), with a fresh session id, the
 * given addresses, and the current time as smtpd's timestamps. Stops after a
 * disconnect (smtpd would send only link-disconnect then).
 */
async function replay(filter: CliFilter, clientPort: number, listenerPort: number): Promise<Replayed> {
  const sid = (0x5a00000000000000n + BigInt(++sessions)).toString(16);
  const recorded = readFileSync(RECORDING, 'utf8').split('\n').filter((l) => l.startsWith('> ')).map((l) => l.slice(2));
  const original = recorded[0]?.split('|')[5] ?? '';
  const answers: Array<{ phase: string; decision: string; ms: number }> = [];
  for (const rec of recorded) {
    const f = rec.split('|');
    f[2] = (Date.now() / 1000).toFixed(6);
    if (f[5] === original) f[5] = sid;
    if (f[4] === 'link-connect') {
      f[8] = `127.0.0.1:${clientPort}`;
      f[9] = `127.0.0.1:${listenerPort}`;
    }
    const line = f.join('|');
    if (f[0] !== 'filter') {
      filter.feed(line);
      continue;
    }
    const prefix = `filter-result|${sid}|${f[6] ?? ''}|`;
    const started = performance.now();
    filter.feed(line);
    const answer = await waitFor(() => filter.written.some((l) => l.startsWith(prefix)), 10_000, `the answer to ${f[4]}`).then(
      () => filter.written.find((l) => l.startsWith(prefix)) ?? '',
    );
    answers.push({ phase: f[4] ?? '', decision: answer.slice(prefix.length), ms: performance.now() - started });
    if (answer.slice(prefix.length).startsWith('disconnect|')) {
      filter.feed(`report|0.7|${(Date.now() / 1000).toFixed(6)}|smtp-in|link-disconnect|${sid}`);
      break;
    }
  }
  return { answers };
}

describe('pregreet and implicit TLS, real filter process, real socket table', { skip: process.platform === 'linux' ? false : 'needs /proc/net/tcp (Linux)' }, () => {
  let dir: string;
  let smtps: Awaited<ReturnType<typeof mute>>;
  let plain: Awaited<ReturnType<typeof mute>>;
  let filter: CliFilter;
  const clients: TLSSocket[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-smtps-'));
    writeFileSync(join(dir, 'inbound.rules'), `chain inbound =\n    pause ${PAUSE_MS}ms pregreet disconnect\n`);
    smtps = await mute();
    plain = await mute();
    filter = await CliFilter.start([process.execPath, MAIN, '--smtps-ports', String(smtps.port), join(dir, 'inbound.rules')]);
  });
  after(async () => {
    for (const c of clients) c.destroy();
    for (const l of [smtps, plain]) {
      for (const s of l?.accepted ?? []) s.destroy();
      l?.server.close();
    }
    if (filter?.running === true) await filter.end();
    rmSync(dir, { recursive: true, force: true });
  });

  test('on the smtps port: the ClientHello is not early talk; the pause runs out and the session goes through', async () => {
    const clientPort = await tlsClient(smtps.port, clients);
    const r = await replay(filter, clientPort, smtps.port);
    assert.deepEqual(
      r.answers.map((a) => `${a.phase} ${a.decision}`),
      ['connect proceed', 'ehlo proceed', 'mail-from proceed', 'rcpt-to proceed', 'data proceed', 'commit proceed'],
      filter.stderrText(),
    );
    assert.ok((r.answers[0]?.ms ?? 0) >= PAUSE_MS - 50, `connect answered after ${r.answers[0]?.ms} ms`);
    await filter.waitForLog(/^pregreet is not applied on this port/);
    const said = filter.logs().find((l) => String(l.msg).startsWith('pregreet is not applied on this port'));
    assert.equal(said?.['port'], smtps.port);
    // The recorded order (link-tls before any link-identify) agrees with --smtps-ports.
    assert.equal(filter.logs().filter((l) => String(l.msg).includes('--smtps-ports')).length, 0, filter.stderrText());
  });

  test('on the other port the same bytes are early talk: disconnect with 554, well before the pause ends', async () => {
    const clientPort = await tlsClient(plain.port, clients);
    const r = await replay(filter, clientPort, plain.port);
    assert.equal(r.answers.length, 1, JSON.stringify(r.answers));
    assert.equal(r.answers[0]?.decision, `disconnect|${REPLY}`);
    assert.ok((r.answers[0]?.ms ?? Infinity) < PAUSE_MS - 1000, `refused after ${r.answers[0]?.ms} ms`);
    assert.deepEqual(filter.invalidLines(), []);
    assert.equal(filter.running, true);
  });
});
