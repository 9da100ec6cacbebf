import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, networkOf, parseIp } from '../../../src/greylist/ip.js';

const net = (src: string, ipv4Prefix = 24, ipv6Prefix = 64): string | null => {
  const ip = parseIp(src);
  return ip ? networkOf(ip, { ipv4Prefix, ipv6Prefix }) : null;
};

describe('client network grouping', () => {
  test('IPv4 clients group by /24 by default (postgrey --ipv4cidr 24)', () => {
    assert.equal(net('192.0.2.1'), '192.0.2.0');
    assert.equal(net('192.0.2.254'), '192.0.2.0');
    assert.notEqual(net('192.0.3.1'), net('192.0.2.1'));
  });

  test('the IPv4 prefix is configurable, /32 being one host', () => {
    assert.equal(net('198.51.100.77', 16), '198.51.0.0');
    assert.equal(net('198.51.100.77', 20), '198.51.96.0');
    assert.equal(net('198.51.100.77', 32), '198.51.100.77');
    assert.equal(net('198.51.100.77', 0), '0.0.0.0');
  });

  test('IPv6 clients group by /64 by default (postgrey --ipv6cidr 64)', () => {
    assert.equal(net('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::');
    assert.equal(net('2001:db8:1:2::1'), net('2001:db8:1:2:ffff::9'));
    assert.notEqual(net('2001:db8:1:3::1'), net('2001:db8:1:2::1'));
    assert.equal(net('2001:db8:1:2::1', 24, 48), '2001:db8:1::');
    assert.equal(net('2001:db8:1:2::1', 24, 128), '2001:db8:1:2::1');
  });

  test('IPv4-mapped IPv6 is the IPv4 client (same /24, same auto-whitelist key)', () => {
    assert.equal(net('::ffff:192.0.2.7'), '192.0.2.0');
    assert.equal(net('::FFFF:c000:0207'), '192.0.2.0');
    const mapped = parseIp('::ffff:192.0.2.7');
    assert.ok(mapped);
    assert.equal(formatIp(mapped), '192.0.2.7');
  });

  test('brackets, an IPv6: tag and a zone suffix are tolerated', () => {
    assert.equal(net('[2001:db8::1]'), '2001:db8::');
    assert.equal(net('IPv6:2001:db8::1'), '2001:db8::');
    assert.equal(net('fe80::1%eth0'), 'fe80::');
  });

  test('not an address → null', () => {
    for (const bad of ['', 'local', 'unix:/var/run/smtpd.sock', '256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4x', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '::1.2.3']) {
      assert.equal(parseIp(bad), null, bad);
    }
  });
});

describe('formatIp (RFC 5952)', () => {
  const fmt = (s: string): string => {
    const ip = parseIp(s);
    assert.ok(ip, s);
    return formatIp(ip);
  };
  test('compresses the longest zero run, the first on a tie, never a single group', () => {
    assert.equal(fmt('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(fmt('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
    assert.equal(fmt('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
    assert.equal(fmt('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1');
    assert.equal(fmt('::'), '::');
    assert.equal(fmt('::1'), '::1');
    assert.equal(fmt('1::'), '1::');
    assert.equal(fmt('64:ff9b::198.51.100.7'), '64:ff9b::c633:6407');
  });
});
