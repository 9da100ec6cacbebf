import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { domainOfAddress, domainQuery, underZone } from '../../../src/dns/domain-name.js';

describe('domainQuery: a HELO, rDNS or sender domain made a name to look up', () => {
  test('lower-cased, the final dot dropped, IDNA-encoded', () => {
    assert.deepEqual(domainQuery('Mail.Example.COM.'), { ok: true, name: 'mail.example.com' });
    assert.deepEqual(domainQuery('bücher.example'), { ok: true, name: 'xn--bcher-kva.example' });
    assert.deepEqual(domainQuery('BÜCHER.example'), { ok: true, name: 'xn--bcher-kva.example' });
    assert.deepEqual(domainQuery('_dmarc.example.org'), { ok: true, name: '_dmarc.example.org' });
  });

  test('skipped: empty, unknown, address literals, bare IPs, malformed, too long', () => {
    const skipped = (s: string) => {
      const q = domainQuery(s);
      return q.ok ? `looked up as ${q.name}` : q.skipped;
    };
    assert.equal(skipped(''), 'empty');
    assert.equal(skipped('  '), 'empty');
    assert.equal(skipped('<unknown>'), 'unknown');
    assert.equal(skipped('[192.0.2.1]'), 'address-literal');
    assert.equal(skipped('[IPv6:2001:db8::1]'), 'address-literal');
    assert.equal(skipped('192.0.2.1'), 'bare-ip');
    assert.equal(skipped('2001:db8::1'), 'bare-ip');
    assert.equal(skipped('010.0.0.1'), 'bare-ip');
    assert.equal(skipped('localhost'), 'malformed');
    assert.equal(skipped('-bad.example'), 'malformed');
    assert.equal(skipped('a..example'), 'malformed');
    assert.equal(skipped('sp ace.example'), 'malformed');
    assert.equal(skipped(`${'a'.repeat(64)}.example`), 'malformed');
    assert.equal(skipped(`${'a.'.repeat(126)}example`), 'too-long');
  });

  test('domainOfAddress and underZone', () => {
    assert.equal(domainOfAddress('user@Example.COM'), 'Example.COM');
    assert.equal(domainOfAddress('"a@b"@example.org'), 'example.org');
    assert.equal(domainOfAddress(''), '');
    assert.equal(underZone('example.com', 'dbl.example'), 'example.com.dbl.example');
    assert.equal(underZone('a'.repeat(250), 'dbl.example'), null);
  });
});
