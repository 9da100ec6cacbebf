import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/support/clock.js';
import { DnsClient, type DnsLookupEvent } from '../../../src/dns/client.js';
import { FakeTransport, a, settle } from './fake-transport.js';

function setup(options: { deadlineMs?: number; maxCacheEntries?: number } = {}) {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  const events: DnsLookupEvent[] = [];
  const late: string[] = [];
  const client = new DnsClient({
    transport,
    clock,
    ...options,
    observer: { lookup: (e) => events.push(e), lateAnswer: (_t, name) => late.push(name) },
  });
  return { clock, transport, client, events, late };
}

describe('DnsClient', () => {
  test('`fresh` asks the resolver past a cached answer (a health probe), and its answer fills the cache', async () => {
    const { transport, client } = setup();
    const first = client.lookup('2.0.0.127.zen.example', 'A');
    await settle();
    transport.answer('2.0.0.127.zen.example', a(300, '127.255.255.254'));
    await first;
    const probe = client.lookup('2.0.0.127.zen.example', 'A', { fresh: true });
    await settle();
    assert.equal(transport.asked.length, 1);
    transport.answer('2.0.0.127.zen.example', a(300, '127.0.0.2'));
    assert.equal((await probe).source, 'network');
    const after = await client.lookup('2.0.0.127.zen.example', 'A');
    assert.deepEqual([after.source, after.kind === 'answer' ? after.records : []], ['cache', ['127.0.0.2']]);
  });

  test('an answer is cached for its TTL, clamped up to 60 s', async () => {
    const { clock, transport, client } = setup();
    const first = client.lookup('2.0.0.127.zen.example', 'A');
    await settle();
    transport.answer('2.0.0.127.zen.example', a(10, '127.0.0.2'));
    assert.deepEqual(await first, { kind: 'answer', records: ['127.0.0.2'], ttlSeconds: 10, source: 'network', waitedMs: 0 });
    clock.advance(59_999);
    assert.equal((await client.lookup('2.0.0.127.ZEN.example.', 'A')).source, 'cache', 'case and the final dot do not matter');
    clock.advance(1);
    const again = client.lookup('2.0.0.127.zen.example', 'A');
    await settle();
    assert.equal(transport.asked.length, 1, 'expired after 60 s');
    transport.answer('2.0.0.127.zen.example', a(10, '127.0.0.2'));
    assert.equal((await again).source, 'network');
  });

  test('a TTL over an hour is cut to an hour; an unknown TTL is 5 minutes', async () => {
    const { clock, transport, client } = setup();
    const long = client.lookup('long.example', 'A');
    const txt = client.lookup('txt.example', 'TXT');
    await settle();
    transport.answer('long.example', a(86_400, '192.0.2.1'));
    transport.answer('txt.example', { kind: 'answer', records: [['v=spf1 -all']], ttlSeconds: undefined });
    await Promise.all([long, txt]);
    clock.advance(299_999);
    assert.equal((await client.lookup('txt.example', 'TXT')).source, 'cache');
    clock.advance(1);
    void client.lookup('txt.example', 'TXT');
    clock.advance(3_300_000 - 1);
    assert.equal((await client.lookup('long.example', 'A')).source, 'cache');
    clock.advance(1);
    void client.lookup('long.example', 'A');
    await settle();
    assert.deepEqual(transport.asked.map((q) => q.name), ['txt.example', 'long.example']);
  });

  test('NXDOMAIN and NODATA are cached for 60 s; errors are not cached', async () => {
    const { clock, transport, client } = setup();
    const nx = client.lookup('nx.example', 'A');
    const nodata = client.lookup('nodata.example', 'MX');
    const failed = client.lookup('fail.example', 'A');
    await settle();
    transport.answer('nx.example', { kind: 'nxdomain' });
    transport.answer('nodata.example', { kind: 'nodata' });
    transport.answer('fail.example', { kind: 'error', error: 'servfail', code: 'ESERVFAIL' });
    assert.equal((await nx).kind, 'nxdomain');
    assert.equal((await nodata).kind, 'nodata');
    assert.deepEqual(await failed, { kind: 'error', error: 'servfail', code: 'ESERVFAIL', source: 'network', waitedMs: 0 });
    clock.advance(59_000);
    assert.equal((await client.lookup('nx.example', 'A')).source, 'cache');
    assert.equal((await client.lookup('nodata.example', 'MX')).source, 'cache');
    void client.lookup('fail.example', 'A');
    await settle();
    assert.deepEqual(transport.asked.map((q) => q.name), ['fail.example'], 'the error was asked again');
  });

  test('concurrent callers share one query; the type is part of the key', async () => {
    const { transport, client, events } = setup();
    const one = client.lookup('mx.example', 'A');
    const two = client.lookup('MX.example', 'A');
    const other = client.lookup('mx.example', 'AAAA');
    await settle();
    assert.equal(transport.asked.length, 2);
    assert.equal(client.pending, 2);
    transport.answer('mx.example', a(300, '192.0.2.7'));
    transport.answer('mx.example', a(300, '2001:db8::7'));
    assert.deepEqual([(await one).source, (await two).source, (await other).source], ['network', 'shared', 'network']);
    assert.equal(client.pending, 0);
    assert.equal(client.counters.shared, 1);
    assert.equal(events.length, 3);
  });

  test('a caller past its deadline gets a timeout; the late answer fills the cache for the next caller', async () => {
    const { clock, transport, client, late, events } = setup({ deadlineMs: 2000 });
    const slow = client.lookup('slow.example', 'A');
    const patient = client.lookup('slow.example', 'A', { deadlineMs: 5000 });
    await settle();
    clock.advance(2000);
    assert.deepEqual(await slow, { kind: 'error', error: 'timeout', code: 'EDEADLINE', source: 'network', waitedMs: 2000 });
    assert.equal(events[0]?.timedOut, true);
    clock.advance(1000);
    transport.answer('slow.example', a(600, '127.0.0.2'));
    const answered = await patient;
    assert.equal(answered.kind, 'answer');
    assert.equal(answered.waitedMs, 3000);
    assert.deepEqual(late, ['slow.example']);
    assert.equal(client.counters.lateAnswers, 1);
    assert.equal((await client.lookup('slow.example', 'A')).source, 'cache');
    assert.equal(clock.pending(), 0, 'no deadline timer left behind');
  });

  test('the cache holds at most maxCacheEntries, the least recently used going first', async () => {
    const { transport, client } = setup({ maxCacheEntries: 2 });
    for (const name of ['a.example', 'b.example', 'c.example']) {
      const p = client.lookup(name, 'A');
      await settle();
      transport.answer(name, a(300, '192.0.2.1'));
      await p;
    }
    assert.equal(client.cached, 2);
    assert.equal((await client.lookup('c.example', 'A')).source, 'cache');
    void client.lookup('a.example', 'A');
    await settle();
    assert.deepEqual(transport.asked.map((q) => q.name), ['a.example']);
  });

  test('a transport that rejects is an error outcome, not a crash', async () => {
    const clock = new FakeClock();
    const client = new DnsClient({ clock, transport: { query: () => Promise.reject(new Error('bug')) } });
    assert.deepEqual(await client.lookup('x.example', 'A'), { kind: 'error', error: 'other', code: 'bug', source: 'network', waitedMs: 0 });
  });

  test('options are checked at construction', () => {
    const clock = new FakeClock();
    const transport = new FakeTransport();
    assert.throws(() => new DnsClient({ clock, transport, deadlineMs: 0 }), /deadlineMs must be positive/);
    assert.throws(() => new DnsClient({ clock, transport, maxCacheEntries: 0 }), /maxEntries must be a positive integer/);
  });
});

describe("DnsClient's resolver for mailauth", () => {
  test('records as node:dns gives them; NXDOMAIN, NODATA and errors thrown with node:dns codes', async () => {
    const { clock, transport, client } = setup({ deadlineMs: 1000 });
    const resolve = client.mailauthResolver();
    const codeOf = (p: Promise<unknown>) => p.then(
      (records) => records,
      (e: { code: string }) => e.code,
    );
    const all = Promise.all(['example.org TXT', 'nx.example.org A', 'nodata.example.org MX', 'refused.example.org TXT', 'slow.example.org A'].map((q) => {
      const [name = '', type = ''] = q.split(' ');
      return codeOf(resolve(name, type));
    }));
    await settle();
    transport.answer('example.org', { kind: 'answer', records: [['v=spf1 ', '-all']], ttlSeconds: undefined });
    transport.answer('nx.example.org', { kind: 'nxdomain' });
    transport.answer('nodata.example.org', { kind: 'nodata' });
    transport.answer('refused.example.org', { kind: 'error', error: 'refused', code: 'EREFUSED' });
    await settle();
    clock.advance(1000);
    assert.deepEqual(await all, [[['v=spf1 ', '-all']], 'ENOTFOUND', 'ENODATA', 'EREFUSED', 'ETIMEOUT']);
    await assert.rejects(resolve('example.org', 'SPF'), { code: 'ENOTIMP' });
  });
});
