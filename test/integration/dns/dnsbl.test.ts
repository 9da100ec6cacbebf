/**
 * DNS lists against a real rbldnsd (issue 12): the client (node:dns's
 * Resolver on a dedicated port) and the filter process, whose `dnsbl` steps
 * start their lookups at connect. One rbldnsd for the file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classify } from '../../../src/dns/classify.js';
import { DnsClient } from '../../../src/dns/client.js';
import { nodeTransport } from '../../../src/dns/node-transport.js';
import { clientQuery } from '../../../src/dns/reverse.js';
import { parseDnsListEntry } from '../../../src/dns/sites.js';
import { systemClock } from '../../../src/support/clock.js';
import { CliFilter, newSessionId } from '../faults/live.js';
import { Rbldnsd } from './rbldnsd.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;

describe('DNS lists against rbldnsd', () => {
  let dns: Rbldnsd;
  let dir: string;
  let filter: CliFilter;

  before(async () => {
    dns = await Rbldnsd.start([
      {
        name: 'zen.test',
        ipv4: ['192.0.2.7 :127.0.0.2:SBL listing', '192.0.2.10 :127.0.0.10:PBL listing', '192.0.2.254 :127.255.255.254:public resolver', '192.0.2.66 :192.0.2.1:not loopback'],
        ipv6: ['2001:db8:1234:5678:9abc::/128 :127.0.0.4:XBL listing'],
      },
      { name: 'wl.test', ipv4: ['192.0.2.20 :127.0.10.2:trusted'] },
      { name: 'dbl.test', domains: ['spam-helo.example :127.0.1.2:helo', 'spam-sender.example :127.0.1.3:sender', 'quota.example :127.0.1.255:over quota'] },
    ]);
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-dnsbl-'));
    const rules = join(dir, 'dnsbl.rules');
    writeFileSync(
      rules,
      [
        'chain main =',
        `    dnsbl "wl.test=127.0.[0..255].[1..3]*-2" as "dnswl" resolver "${dns.address}"`,
        `    then dnsbl "zen.test=127.0.0.[2..11]*0 sbl=127.0.0.2 xbl=127.0.0.[4..7] pbl=127.0.0.[10..11]" as "zen" resolver "${dns.address}"`,
        '    then pause 200ms',
        '    then disconnect "550 5.7.1 Service unavailable; client blocked using zen" when listed in { zen.sbl, zen.xbl }',
        '    then reject "451 4.7.1 dynamic address, try later" when listed in { zen.pbl } at rcpt-to',
        '    then reject "451 4.7.1 the DNS list failed" when dns-error in { zen } at rcpt-to',
        '',
      ].join('\n'),
    );
    filter = await CliFilter.start([process.execPath, MAIN, rules]);
  });

  after(async () => {
    filter?.kill();
    await dns?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the client: listed with codes, clear, IPv6 by nibbles, and 127.255.255.254 or an answer outside 127/8 as errors', async () => {
    const client = new DnsClient({ transport: nodeTransport({ server: { host: '127.0.0.1', port: dns.port } }), clock: systemClock });
    const entry = parseDnsListEntry('zen.test=127.0.0.[2..11] sbl=127.0.0.2 xbl=127.0.0.[4..7]');
    assert.ok(entry.ok);
    const ask = async (address: string) => {
      const q = clientQuery(address);
      assert.ok(q);
      const v = classify(await client.lookup(`${q.reversed}.zen.test`, 'A'), { kind: 'address', filter: entry.value.site.filter, codes: entry.value.codes });
      return v.status === 'listed' ? `listed ${v.codes.join(',')}` : v.status === 'error' ? `error ${v.error} ${v.detail}` : v.status;
    };
    assert.equal(await ask('192.0.2.7'), 'listed sbl');
    assert.equal(await ask('::ffff:192.0.2.7'), 'listed sbl');
    assert.equal(await ask('192.0.2.8'), 'clear');
    assert.equal(await ask('2001:db8:1234:5678:9abc::'), 'listed xbl');
    assert.equal(await ask('2001:db8:1234:5678:9abc::1'), 'clear');
    assert.equal(await ask('192.0.2.254'), 'error list-refused 127.255.255.254');
    assert.equal(await ask('192.0.2.66'), 'error not-loopback 192.0.2.1');
    const txt = await client.lookup('7.2.0.192.zen.test', 'TXT');
    assert.deepEqual(txt.kind === 'answer' ? txt.records : txt.kind, [['SBL listing']]);
    assert.equal((await client.lookup('7.2.0.192.zen.test', 'A')).source, 'cache');
  });

  test('the filter: listed clients refused where the rules say, a DNSWL client accepted, errors never a listing', async () => {
    const session = async (src: string) => {
      const sid = newSessionId();
      // smtpd writes an IPv6 endpoint in brackets.
      const endpoint = src.includes(':') ? `[${src}]:5000` : `${src}:5000`;
      filter.feed(`report|0.6|1.0|smtp-in|link-connect|${sid}|mx.example.net|pass|${endpoint}|192.0.2.1:25`);
      const connect = (await filter.ask(sid, 'connect', `mx.example.net|${src}`)).decision;
      if (connect !== 'proceed') {
        filter.close(sid);
        return connect;
      }
      await filter.ask(sid, 'ehlo', 'mx.example.net');
      await filter.ask(sid, 'mail-from', 'alice@example.net');
      const rcpt = (await filter.ask(sid, 'rcpt-to', 'bob@example.org')).decision;
      filter.close(sid);
      return rcpt;
    };
    assert.equal(await session('192.0.2.7'), 'disconnect|550 5.7.1 Service unavailable; client blocked using zen');
    assert.equal(await session('2001:db8:1234:5678:9abc::'), 'disconnect|550 5.7.1 Service unavailable; client blocked using zen');
    assert.equal(await session('192.0.2.10'), 'reject|451 4.7.1 dynamic address, try later');
    assert.equal(await session('192.0.2.254'), 'reject|451 4.7.1 the DNS list failed', '127.255.255.254 is an error, not a listing');
    assert.equal(await session('192.0.2.8'), 'proceed');
    assert.equal(await session('192.0.2.20'), 'proceed', 'the DNSWL client is accepted');
    assert.deepEqual(filter.invalidLines(), []);
    const zone = filter.logs().filter((l) => JSON.stringify(l).includes('zen.test'));
    assert.deepEqual(zone, [], 'logs name the list, never its zone');
  });

  test('scores: the lists add their weights (score-only), thresholds decide, the decision line shows the breakdown', async () => {
    const rules = join(dir, 'scores.rules');
    writeFileSync(
      rules,
      [
        'chain main =',
        `    dnsbl "wl.test=127.0.[0..255].[1..3]*-2" as "dnswl" resolver "${dns.address}" score-only`,
        `    then dnsbl "zen.test=127.0.0.[2..9]*3" as "zen" resolver "${dns.address}" score-only`,
        // The same zone again, for its PBL answers: the query is shared, the weight its own.
        `    then dnsbl "zen.test=127.0.0.[10..11]*1.5" as "pbl" resolver "${dns.address}" score-only`,
        '    then score +1 "no-fcrdns" when not fcrdns',
        '    then accept when score <= -1',
        '    then disconnect "550 5.7.1 Service unavailable; client blocked by DNS lists" when score >= 3',
        '    then reject "451 4.7.1 suspicious, try later" when score >= 1 at rcpt-to',
        '',
      ].join('\n'),
    );
    const scored = await CliFilter.start([process.execPath, MAIN, rules]);
    try {
      const session = async (src: string, fcrdns = 'pass') => {
        const sid = newSessionId();
        scored.feed(`report|0.6|1.0|smtp-in|link-connect|${sid}|mx.example.net|${fcrdns}|${src}:5000|192.0.2.1:25`);
        const connect = (await scored.ask(sid, 'connect', `mx.example.net|${src}`)).decision;
        if (connect !== 'proceed') {
          scored.close(sid);
          return connect;
        }
        await scored.ask(sid, 'ehlo', 'mx.example.net');
        await scored.ask(sid, 'mail-from', 'alice@example.net');
        const rcpt = (await scored.ask(sid, 'rcpt-to', 'bob@example.org')).decision;
        scored.close(sid);
        return rcpt;
      };
      assert.equal(await session('192.0.2.7'), 'disconnect|550 5.7.1 Service unavailable; client blocked by DNS lists', 'SBL: 3');
      assert.equal(await session('192.0.2.10'), 'reject|451 4.7.1 suspicious, try later', 'PBL: 1.5');
      assert.equal(await session('192.0.2.10', 'fail'), 'reject|451 4.7.1 suspicious, try later', 'PBL and no FCrDNS: 2.5');
      assert.equal(await session('192.0.2.20', 'fail'), 'proceed', 'DNSWL -2 and no FCrDNS +1: accepted');
      assert.equal(await session('192.0.2.254'), 'proceed', '127.255.255.254 is an error: it adds nothing');
      assert.equal(await session('192.0.2.8'), 'proceed');
      assert.deepEqual(scored.invalidLines(), []);
      const scores = scored.logs().filter((l) => l.msg === 'decision').map((l) => l.score);
      assert.deepEqual(scores, ['3 (zen +3)', '1.5 (pbl +1.5)', '2.5 (pbl +1.5, no-fcrdns +1)', '-1 (dnswl -2, no-fcrdns +1)']);
    } finally {
      scored.kill();
    }
  });

  test('domain lists: the HELO name and the sender domain asked, literals not, 127.0.1.255 an error; weights decide at rcpt-to', async () => {
    const rules = join(dir, 'domains.rules');
    writeFileSync(
      rules,
      [
        'chain main =',
        `    dnsbl "dbl.test=127.0.1.[2..99]*2" as "dbl-helo" resolver "${dns.address}" lookup helo at helo score-only`,
        `    then dnsbl "dbl.test=127.0.1.[2..99]*3" as "dbl-from" resolver "${dns.address}" lookup mail-from at mail-from score-only`,
        '    then reject "550 5.7.1 listed domain" when score >= 3 at rcpt-to',
        '    then reject "451 4.7.1 the domain list failed" when dns-error in { dbl-helo } at rcpt-to',
        '',
      ].join('\n'),
    );
    const domains = await CliFilter.start([process.execPath, MAIN, rules]);
    try {
      const session = async (helo: string, from: string) => {
        const sid = newSessionId();
        domains.feed(`report|0.6|1.0|smtp-in|link-connect|${sid}|mx.example.net|pass|192.0.2.8:5000|192.0.2.1:25`);
        await domains.ask(sid, 'connect', 'mx.example.net|192.0.2.8');
        await domains.ask(sid, 'ehlo', helo);
        await domains.ask(sid, 'mail-from', from);
        const rcpt = (await domains.ask(sid, 'rcpt-to', 'bob@example.org')).decision;
        domains.close(sid);
        return rcpt;
      };
      assert.equal(await session('spam-helo.example', 'alice@clean.example'), 'proceed', 'a listed HELO name: 2, under the threshold');
      assert.equal(await session('mail.clean.example', 'bad@Spam-Sender.Example'), 'reject|550 5.7.1 listed domain', 'a listed sender domain: 3');
      assert.equal(await session('spam-helo.example', 'bad@spam-sender.example'), 'reject|550 5.7.1 listed domain');
      assert.equal(await session('[192.0.2.8]', 'alice@clean.example'), 'proceed', 'an address literal is not asked');
      assert.equal(await session('quota.example', 'alice@clean.example'), 'reject|451 4.7.1 the domain list failed', '127.0.1.255 is an error');
      assert.deepEqual(domains.invalidLines(), []);
      const scores = domains.logs().filter((l) => l.msg === 'decision').map((l) => l.score);
      assert.deepEqual(scores, ['3 (dbl-from +3)', '5 (dbl-helo +2, dbl-from +3)', undefined]);
    } finally {
      domains.kill();
    }
  });

  test('health: a list that answers 127.255.255.254 to everything fails its probes and its lookups, is degraded with one warning naming the cause, and its weight is skipped (fail open)', async () => {
    // A second rbldnsd: everything (the RFC 5782 probe 127.0.0.1 too) answers Spamhaus's "public resolver" code.
    const broken = await Rbldnsd.start([{ name: 'broken.test', ipv4: ['0.0.0.0-255.255.255.255 :127.255.255.254:public resolver', '198.51.100.0/24 :127.0.0.2:listed'] }]);
    const rules = join(dir, 'health.rules');
    writeFileSync(
      rules,
      [
        'chain main =',
        `    dnsbl "broken.test=127.0.0.[2..11]*3" as "broken" resolver "${broken.address}" score-only`,
        '    then reject "550 5.7.1 listed" when score >= 3 at rcpt-to',
        '',
      ].join('\n'),
    );
    const filter = await CliFilter.start([process.execPath, MAIN, rules]);
    try {
      const session = async (src: string) => {
        const sid = newSessionId();
        filter.feed(`report|0.6|1.0|smtp-in|link-connect|${sid}|mx.example.net|pass|${src}:5000|192.0.2.1:25`);
        await filter.ask(sid, 'connect', `mx.example.net|${src}`);
        await filter.ask(sid, 'ehlo', 'mx.example.net');
        await filter.ask(sid, 'mail-from', 'alice@example.net');
        const rcpt = (await filter.ask(sid, 'rcpt-to', 'bob@example.org')).decision;
        filter.close(sid);
        return rcpt;
      };
      assert.equal(await session('198.51.100.7'), 'reject|550 5.7.1 listed', 'up: a listing counts');
      for (const src of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) assert.equal(await session(src), 'proceed', 'an error adds nothing');
      assert.equal(await session('198.51.100.8'), 'proceed', 'degraded: the listing adds no weight');
      assert.deepEqual(filter.invalidLines(), []);
      const warnings = filter.logs().filter((l) => l.health !== undefined);
      assert.deepEqual(
        warnings.map((l) => [l.list, l.health]),
        [['broken', 'degraded']],
      );
      assert.match(String(warnings[0]?.cause), /public or open resolver/);
      assert.deepEqual(filter.logs().filter((l) => JSON.stringify(l).includes('broken.test')), [], 'logs name the list, never its zone');
    } finally {
      filter.kill();
      await broken.stop();
    }
  });
});
