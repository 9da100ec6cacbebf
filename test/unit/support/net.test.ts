import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, formatIp, IpSet, parseCidr, parseIp, parseIpv4, parseIpv6, type CidrRange } from '../../../src/support/net.js';

function range(text: string): CidrRange {
  const r = parseCidr(text);
  assert.ok(typeof r !== 'string', `${text}: ${String(r)}`);
  return r;
}

describe('IP parsing', () => {
  test('IPv4: dotted quads only, no leading zeros, octets up to 255', () => {
    assert.equal(parseIpv4('192.0.2.1'), 0xc0000201n);
    assert.equal(parseIpv4('0.0.0.0'), 0n);
    for (const bad of ['192.0.2', '192.0.2.256', '010.0.0.1', '1.2.3.4.5', ' 1.2.3.4', '1.2.3.-4', '']) {
      assert.equal(parseIpv4(bad), null, bad);
    }
  });

  test('IPv6: compressed forms, embedded IPv4, and malformed text', () => {
    assert.equal(parseIpv6('::'), 0n);
    assert.equal(parseIpv6('::1'), 1n);
    assert.equal(parseIpv6('2001:db8::1'), (0x20010db8n << 96n) | 1n);
    assert.equal(parseIpv6('2001:DB8:0:0:0:0:0:1'), (0x20010db8n << 96n) | 1n);
    assert.equal(parseIpv6('::ffff:192.0.2.1'), (0xffffn << 32n) | 0xc0000201n);
    for (const bad of ['1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::1', ':::', '1:2:3:4:5:6:7::8', '']) {
      assert.equal(parseIpv6(bad), null, bad);
    }
  });

  test('parseIp folds IPv4-mapped IPv6 to IPv4, drops brackets and zones', () => {
    assert.deepEqual(parseIp('::ffff:192.0.2.1'), { family: 4, value: 0xc0000201n });
    assert.deepEqual(parseIp('[2001:db8::1]'), { family: 6, value: (0x20010db8n << 96n) | 1n });
    assert.deepEqual(parseIp('fe80::1%eth0'), { family: 6, value: (0xfe80n << 112n) | 1n });
    assert.equal(parseIp('example.com'), null);
    assert.equal(parseIp('unix:/var/run/smtpd.sock'), null);
  });

  test('CIDR: prefixes checked per family, host bits noticed, mapped ranges become IPv4', () => {
    assert.deepEqual(range('192.0.2.0/24'), { family: 4, network: 0xc0000200n, prefix: 24, hostBitsSet: false });
    assert.equal(range('192.0.2.7/24').hostBitsSet, true);
    assert.equal(range('192.0.2.7').prefix, 32);
    assert.deepEqual(range('::ffff:192.0.2.0/120'), { family: 4, network: 0xc0000200n, prefix: 24, hostBitsSet: false });
    assert.match(String(parseCidr('192.0.2.0/33')), /0 to 32/);
    assert.match(String(parseCidr('::/129')), /0 to 128/);
    assert.match(String(parseCidr('192.0.2.0/')), /prefix/);
    assert.match(String(parseCidr('1.2.3/8')), /not a valid IPv4/);
  });

  test('formatting follows RFC 5952 compression', () => {
    assert.equal(formatIp({ family: 6, value: 1n }), '::1');
    assert.equal(formatIp({ family: 6, value: (0x20010db8n << 96n) | 1n }), '2001:db8::1');
    assert.equal(formatIp({ family: 6, value: 0n }), '::');
    assert.equal(formatCidr(range('10.1.2.3/8')), '10.0.0.0/8');
  });
});

describe('IpSet', () => {
  const set = new IpSet(['127.0.0.0/8', '192.0.2.0/24', '192.0.3.0/24', '::1', '2001:db8::/32'].map(range));

  test('members and non-members of both families', () => {
    for (const yes of ['127.0.0.1', '127.255.255.255', '192.0.2.0', '192.0.3.255', '::1', '2001:db8:ffff::5']) assert.equal(set.hasText(yes), true, yes);
    for (const no of ['128.0.0.0', '192.0.4.0', '192.0.1.255', '::2', '2001:db9::', '10.0.0.1']) assert.equal(set.hasText(no), false, no);
  });

  test('an IPv4 client seen through a dual-stack socket matches IPv4 entries', () => {
    assert.equal(set.hasText('::ffff:127.0.0.1'), true);
    assert.equal(set.hasText('::ffff:10.0.0.1'), false);
  });

  test('unparseable input is never a member', () => {
    assert.equal(set.hasText(''), false);
    assert.equal(set.hasText('localhost'), false);
  });

  test('overlapping and adjacent ranges merge; the empty set matches nothing', () => {
    const merged = new IpSet(['10.0.0.0/9', '10.128.0.0/9', '10.1.0.0/16'].map(range));
    assert.equal(merged.hasText('10.200.0.1'), true);
    assert.equal(merged.hasText('11.0.0.0'), false);
    assert.equal(new IpSet([]).hasText('10.0.0.1'), false);
    assert.equal(new IpSet([]).isEmpty, true);
  });

  test('/0 covers its whole family only', () => {
    const all4 = new IpSet([range('0.0.0.0/0')]);
    assert.equal(all4.hasText('255.255.255.255'), true);
    assert.equal(all4.hasText('::1'), false);
  });
});
