/**
 * The HTTP edge against a local node:http server that plays rspamd: the
 * request (path, headers, the body streamed), and every failure as an
 * RspamdError: refused, hung (the deadline, on a fake clock), HTTP 500, a
 * huge answer, the caller's abort.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { RspamdClient, RspamdError } from '../../../src/rspamd/client.js';
import { FakeClock, systemClock } from '../../../src/support/clock.js';

async function server(handle: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        s.closeAllConnections();
        s.close(() => resolve());
      }),
  };
}

const body = () => Readable.from([Buffer.from('Subject: hi\r\n'), Buffer.from('\r\nbody\r\n')]);

async function failure(p: Promise<unknown>): Promise<RspamdError> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof RspamdError, String(error));
    return error;
  }
  assert.fail('no error');
}

describe('rspamd client', () => {
  test('POSTs the message to /checkv2 with the headers, one Rcpt line each, and parses the answer', async () => {
    let seen: { url: string | undefined; method: string | undefined; rcpt: string[]; ip: string | undefined; body: string; length: string | undefined; chunked: string | undefined } | null = null;
    const s = await server((req, b, res) => {
      const rcpt: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i] === 'Rcpt') rcpt.push(req.rawHeaders[i + 1] ?? '');
      seen = { url: req.url, method: req.method, rcpt, ip: req.headers['ip'] as string | undefined, body: b.toString(), length: req.headers['content-length'], chunked: req.headers['transfer-encoding'] };
      res.end('{"action":"no action","score":1.5,"symbols":{"A":{}}}');
    });
    const client = new RspamdClient({ url: `${s.url}/`, clock: systemClock });
    const answer = await client.check({ headers: { IP: '192.0.2.7', Rcpt: ['<a@x>', '<b@x>'] }, body: body(), length: 21, timeoutMs: 30_000 });
    assert.equal(answer.action, 'no action');
    assert.deepEqual(seen, { url: '/checkv2', method: 'POST', rcpt: ['<a@x>', '<b@x>'], ip: '192.0.2.7', body: 'Subject: hi\r\n\r\nbody\r\n', length: '21', chunked: undefined });
    client.close();
    await s.close();
  });

  test('a refused connection', async () => {
    const s = await server((_, __, res) => res.end());
    const url = s.url;
    await s.close();
    const client = new RspamdClient({ url, clock: systemClock });
    const e = await failure(client.check({ headers: {}, body: body(), timeoutMs: 30_000 }));
    assert.equal(e.kind, 'connect');
    assert.equal(e.timedOut, false);
  });

  test('a hung server: the deadline (fake clock) ends the request, timedOut', async () => {
    let got: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (got = resolve));
    const s = await server(() => got());
    const clock = new FakeClock();
    const client = new RspamdClient({ url: s.url, clock });
    const pending = failure(client.check({ headers: {}, body: body(), timeoutMs: 9000 }));
    await arrived;
    clock.advance(9000);
    const e = await pending;
    assert.equal(e.kind, 'timeout');
    assert.equal(e.timedOut, true);
    client.close();
    await s.close();
  });

  test('HTTP 500, a malformed answer and a huge one are errors', async () => {
    const answers = [
      (res: ServerResponse) => res.writeHead(500).end('{"error":"oops"}'),
      (res: ServerResponse) => res.end('{"action": "no act'),
      (res: ServerResponse) => res.end(`{"action":"no action","x":"${'a'.repeat(5000)}"}`),
    ];
    let n = 0;
    const s = await server((_, __, res) => answers[n++]?.(res));
    const client = new RspamdClient({ url: s.url, clock: systemClock, maxAnswerBytes: 1000 });
    const kinds = [];
    for (let i = 0; i < answers.length; i++) kinds.push((await failure(client.check({ headers: {}, body: body(), timeoutMs: 30_000 }))).kind);
    assert.deepEqual(kinds, ['http', 'answer', 'answer']);
    client.close();
    await s.close();
  });

  test("the caller's abort ends the request", async () => {
    let got: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (got = resolve));
    const s = await server(() => got());
    const client = new RspamdClient({ url: s.url, clock: systemClock });
    const abort = new AbortController();
    const pending = failure(client.check({ headers: {}, body: body(), timeoutMs: 30_000, signal: abort.signal }));
    await arrived;
    abort.abort();
    assert.equal((await pending).kind, 'aborted');
    client.close();
    await s.close();
  });
});
