/**
 * /proc/net/tcp{,6} encoding and scanning. The table texts below are copied
 * from this machine's kernel (a node server listening on `::` with an IPv4
 * and an IPv6 client, and an IPv4-only listener on 127.0.0.1:2525); the last
 * test reads the live kernel tables during a real connection.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { parseIp } from '../../../src/support/net.js';
import { encodeMappedV4, encodeProcAddress, rowKeys, scanSocketTable, type SocketRow } from '../../../src/support/proc-net-tcp.js';
import { waitFor } from '../../e2e/harness/wait.js';

const ip = (text: string) => {
  const p = parseIp(text);
  assert.ok(p, text);
  return p;
};

const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:A143 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4244420 1 00000000fde6e80a 100 0 0 10 0
   3: 0000000000000000FFFF00000100007F:A143 0000000000000000FFFF00000100007F:83B8 01 00000000:00000008 00:00000000 00000000     0        0 4244423 1 00000000d2075d35 20 4 30 10 -1
   4: 00000000000000000000000001000000:A143 00000000000000000000000001000000:A3C4 01 00000000:00000000 00:00000000 00000000     0        0 4244424 1 0000000049e1e035 20 0 0 10 -1
`;

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:09DD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1449 1 0000000009c7ce7f 100 0 0 10 0
   1: 0100007F:09DD 0600007F:C350 01 00000000:00000000 00:00000000 00000000   102        0 5512 1 00000000e952c543 20 4 30 10 -1
   2: 0100007F:09DD 0700007F:C351 01 00000000:0000000C 00:00000000 00000000   102        0 5513 1 00000000e952c544 20 4 30 10 -1
   3: 0100007F:09DD 0800007F:C352 08 00000000:00000001 00:00000000 00000000   102        0 5514 1 00000000e952c545 20 4 30 10 -1
 12345: 0100007F:09DD 0900007F:C353 01 00000000:00000000 00:00000000 00000000   102        0 5515 1 00000000e952c546 20 4 30 10 -1
`;

function lookup(table: 'tcp' | 'tcp6', text: string, keys: readonly string[]): Map<string, SocketRow> {
  const wanted = new Map(keys.map((k) => [k, k]));
  const out = new Map<string, SocketRow>();
  scanSocketTable(table, text, wanted, (k, row) => out.set(k, row));
  return out;
}

describe('proc-net-tcp: addresses as the kernel prints them (little-endian host)', () => {
  test('IPv4: each byte reversed within the 32-bit word', () => {
    assert.equal(encodeProcAddress(ip('127.0.0.1'), 'LE'), '0100007F');
    assert.equal(encodeProcAddress(ip('192.0.2.10'), 'LE'), '0A0200C0');
    assert.equal(encodeProcAddress(ip('127.0.0.1'), 'BE'), '7F000001');
  });

  test('IPv6: four words, each reversed; IPv4-mapped as in tcp6', () => {
    assert.equal(encodeProcAddress(ip('::1'), 'LE'), '00000000000000000000000001000000');
    assert.equal(encodeProcAddress(ip('2001:db8::5'), 'LE'), 'B80D0120000000000000000005000000');
    assert.equal(encodeMappedV4(ip('127.0.0.1'), 'LE'), '0000000000000000FFFF00000100007F');
  });

  test('rowKeys: local (dest) first, remote (src) second, ports big-endian', () => {
    const keys = rowKeys({ src: '127.0.0.6', srcPort: 50000, dest: '127.0.0.1', destPort: 2525 }, 'LE');
    assert.deepEqual(keys, {
      tcp: '0100007F:09DD 0600007F:C350',
      tcp6: '0000000000000000FFFF00000100007F:09DD 0000000000000000FFFF00000600007F:C350',
    });
    const v6 = rowKeys({ src: '::1', srcPort: 41924, dest: '::1', destPort: 41283 }, 'LE');
    assert.deepEqual(v6, { tcp: null, tcp6: '00000000000000000000000001000000:A143 00000000000000000000000001000000:A3C4' });
  });

  test('rowKeys: an IPv4-mapped client is looked up like IPv4 (both tables)', () => {
    const keys = rowKeys({ src: '::ffff:127.0.0.1', srcPort: 33720, dest: '::ffff:127.0.0.1', destPort: 41283 }, 'LE');
    assert.equal(keys?.tcp, '0100007F:A143 0100007F:83B8');
    assert.equal(keys?.tcp6, '0000000000000000FFFF00000100007F:A143 0000000000000000FFFF00000100007F:83B8');
  });

  test('rowKeys: nothing to watch for the local socket, mixed families or missing ports', () => {
    assert.equal(rowKeys({ src: '', srcPort: 0, dest: '', destPort: 0 }), null);
    assert.equal(rowKeys({ src: '127.0.0.1', srcPort: 5, dest: '::1', destPort: 25 }), null);
    assert.equal(rowKeys({ src: '127.0.0.1', srcPort: 0, dest: '127.0.0.1', destPort: 25 }), null);
    assert.equal(rowKeys({ src: 'localhost', srcPort: 5, dest: '127.0.0.1', destPort: 25 }), null);
  });
});

describe('proc-net-tcp: scanning a table', () => {
  test('finds the wanted rows with state and rx_queue; ignores the listener and other rows', () => {
    const k = (src: string, port: number) => rowKeys({ src, srcPort: port, dest: '127.0.0.1', destPort: 2525 }, 'LE')?.tcp ?? '';
    const rows = lookup('tcp', TCP, [k('127.0.0.6', 50000), k('127.0.0.7', 50001), k('127.0.0.8', 50002), k('127.0.0.9', 50003), k('127.0.0.10', 1)]);
    assert.deepEqual(rows.get(k('127.0.0.6', 50000)), { state: 0x01, rxQueue: 0 });
    assert.deepEqual(rows.get(k('127.0.0.7', 50001)), { state: 0x01, rxQueue: 12 });
    assert.deepEqual(rows.get(k('127.0.0.8', 50002)), { state: 0x08, rxQueue: 1 });
    // `sl` wider than 4 digits still parses.
    assert.deepEqual(rows.get(k('127.0.0.9', 50003)), { state: 0x01, rxQueue: 0 });
    assert.equal(rows.has(k('127.0.0.10', 1)), false);
  });

  test('tcp6: IPv4 client of a dual-stack listener, and an IPv6 client', () => {
    const mapped = rowKeys({ src: '127.0.0.1', srcPort: 0x83b8, dest: '127.0.0.1', destPort: 0xa143 }, 'LE');
    const v6 = rowKeys({ src: '::1', srcPort: 0xa3c4, dest: '::1', destPort: 0xa143 }, 'LE');
    const rows = lookup('tcp6', TCP6, [mapped?.tcp6 ?? '', v6?.tcp6 ?? '']);
    assert.deepEqual(rows.get(mapped?.tcp6 ?? ''), { state: 1, rxQueue: 8 });
    assert.deepEqual(rows.get(v6?.tcp6 ?? ''), { state: 1, rxQueue: 0 });
  });

  test('counts rows; header only, empty text and garbage are harmless', () => {
    assert.equal(scanSocketTable('tcp', TCP, new Map(), () => assert.fail('nothing wanted')), 5);
    assert.equal(scanSocketTable('tcp', '', new Map([['x', 1]]), () => assert.fail()), 0);
    assert.equal(scanSocketTable('tcp', 'header only', new Map([['x', 1]]), () => assert.fail()), 0);
    const key = '0100007F:09DD 0600007F:C350';
    const broken = `header\n   1: ${key} 0G 00000000:00000000\n   2: ${key} 01 00000000:000\n   3: ${key}`;
    assert.equal(lookup('tcp', broken, [key]).size, 0);
  });

  test('a big table is scanned quickly (one substring and one lookup per row)', () => {
    const lines = ['  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode'];
    for (let i = 0; i < 50_000; i++) {
      const port = (1024 + i).toString(16).toUpperCase().padStart(4, '0');
      lines.push(`${String(i).padStart(4)}: 0100007F:09DD 0A00000A:${port} 01 00000000:00000000 00:00000000 00000000   102        0 ${i} 1 0000000000000000 20 4 30 10 -1`);
    }
    const text = lines.join('\n');
    const wanted = new Map<string, number>();
    for (let i = 0; i < 1000; i++) wanted.set(`0100007F:09DD 0A00000A:${(1024 + i * 50).toString(16).toUpperCase().padStart(4, '0')}`, i);
    let found = 0;
    const t0 = performance.now();
    const rows = scanSocketTable('tcp', text, wanted, () => found++);
    const ms = performance.now() - t0;
    assert.equal(rows, 50_000);
    assert.equal(found, 1000);
    assert.ok(ms < 500, `50 000 rows took ${ms} ms`);
  });
});

describe('proc-net-tcp: the live kernel table (Linux)', { skip: process.platform === 'linux' ? false : 'Linux only' }, () => {
  test('a client that talks before being read shows rx_queue; one that closes shows CLOSE_WAIT', async () => {
    const accepted: Socket[] = [];
    // pauseOnConnect: like smtpd before its banner, the server reads nothing.
    const server: Server = createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const talker = connect(port, '127.0.0.1');
    const leaver = connect(port, '127.0.0.1');
    try {
      await Promise.all([talker, leaver].map((c) => new Promise((r) => c.once('connect', r))));
      talker.write('EHLO early\r\n');
      leaver.end();
      const keyOf = (c: Socket) => rowKeys({ src: '127.0.0.1', srcPort: c.localPort ?? 0, dest: '127.0.0.1', destPort: port })?.tcp ?? '';
      const read = () => lookup('tcp', readFileSync('/proc/net/tcp', 'latin1'), [keyOf(talker), keyOf(leaver)]);
      // The bytes and the FIN reach the server's socket asynchronously: wait until the kernel shows both.
      let seen = new Map<string, SocketRow>();
      const rows = await waitFor(
        () => {
          seen = read();
          return seen.get(keyOf(talker))?.rxQueue === 12 && seen.get(keyOf(leaver))?.state === 0x08 && seen;
        },
        { timeoutMs: 5000, intervalMs: 10, what: 'the queued bytes and the FIN in /proc/net/tcp', explain: () => JSON.stringify([...seen]) },
      );
      assert.deepEqual(rows.get(keyOf(talker)), { state: 0x01, rxQueue: 12 });
      assert.equal(rows.get(keyOf(leaver))?.state, 0x08);
    } finally {
      talker.destroy();
      leaver.destroy();
      for (const s of accepted) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
