import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clientQuery, expandIpv6 } from '../../../src/dns/reverse.js';

describe('clientQuery: the reversed name of a client address', () => {
  test('IPv4: octets reversed', () => {
    assert.deepEqual(clientQuery('192.0.2.1'), { family: 4, reversed: '1.2.0.192', address: '192.0.2.1' });
  });

  test('IPv6: 32 nibbles reversed, each group padded (2001:db8::1 would hide a swapped pair)', () => {
    assert.equal(clientQuery('2001:db8:1234:5678:9abc::')?.reversed, '0.0.0.0.0.0.0.0.0.0.0.0.c.b.a.9.8.7.6.5.4.3.2.1.8.b.d.0.1.0.0.2');
    assert.equal(clientQuery('2001:DB8::1')?.reversed, '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2');
    assert.equal(clientQuery('::1')?.reversed, `1${'.0'.repeat(31)}`);
    assert.equal(clientQuery('2001:db8:1234:5678:9abc::')?.family, 6);
  });

  test('IPv4-mapped IPv6 is looked up as IPv4, in either spelling', () => {
    assert.deepEqual(clientQuery('::ffff:192.0.2.1'), { family: 4, reversed: '1.2.0.192', address: '192.0.2.1' });
    assert.deepEqual(clientQuery('::FFFF:c000:201'), { family: 4, reversed: '1.2.0.192', address: '192.0.2.1' });
    assert.equal(clientQuery('::192.0.2.1')?.family, 6, 'IPv4-compatible (deprecated) is no mapped address');
  });

  test('what is no address is not looked up', () => {
    for (const s of ['', 'unknown', 'local', '192.0.2', '::ffff:1.2.3.4.5', '1::2::3']) assert.equal(clientQuery(s), null, s);
  });

  test('expandIpv6', () => {
    assert.deepEqual(expandIpv6('1:2:3:4:5:6:7:8'), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(expandIpv6('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(expandIpv6('1::'), [1, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(expandIpv6('64:ff9b::192.0.2.33'), [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x221]);
  });
});
