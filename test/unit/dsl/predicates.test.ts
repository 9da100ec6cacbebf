import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileOk, condition, facts, onlyChain } from './helpers.js';

describe('conditions on session facts', () => {
  test('src in LIST: IPv4/IPv6 ranges, IPv4-mapped clients, the local socket', () => {
    const p = condition('src in trusted', 'list trusted = { 127.0.0.0/8, ::1, 192.0.2.0/24, 2001:db8::/32 }');
    assert.equal(p(facts({ src: '127.0.0.1' })), true);
    assert.equal(p(facts({ src: '192.0.2.200' })), true);
    assert.equal(p(facts({ src: '::1' })), true);
    assert.equal(p(facts({ src: '2001:db8:1::7' })), true);
    assert.equal(p(facts({ src: '::ffff:192.0.2.9' })), true);
    assert.equal(p(facts({ src: '198.51.100.1' })), false);
    assert.equal(p(facts({ src: '2001:db9::1' })), false);
    // smtpd's local enqueue socket has no address.
    assert.equal(p(facts({ src: '', local: true })), false);
  });

  test('rdns: false when smtpd reported <unknown> (null)', () => {
    const p = condition('rdns');
    assert.equal(p(facts({ rdns: 'mx.example.org' })), true);
    assert.equal(p(facts({ rdns: null })), false);
    const n = condition('not rdns');
    assert.equal(n(facts({ rdns: null })), true);
  });

  test('fcrdns: true only when link-connect said pass', () => {
    const p = condition('fcrdns');
    assert.equal(p(facts({ fcrdns: 'pass' })), true);
    for (const v of ['fail', 'error', null]) assert.equal(p(facts({ fcrdns: v })), false, String(v));
  });

  test('rdns ~ /RE/ is case-insensitive and false without rDNS', () => {
    const p = condition('rdns ~ /(dsl|dynamic|pool)[.-]/');
    assert.equal(p(facts({ rdns: 'host-1.DSL.example.net' })), true);
    assert.equal(p(facts({ rdns: 'mx.example.net' })), false);
    assert.equal(p(facts({ rdns: null })), false);
  });

  test('rdns in LIST: exact names, and leading-dot / *. patterns for strict subdomains', () => {
    const p = condition('rdns in hosts', 'list hosts = { mail.example.com, .example.net, *.example.org }');
    assert.equal(p(facts({ rdns: 'MAIL.example.com' })), true);
    assert.equal(p(facts({ rdns: 'mail.example.com.' })), true);
    assert.equal(p(facts({ rdns: 'x.mail.example.com' })), false);
    assert.equal(p(facts({ rdns: 'a.example.net' })), true);
    assert.equal(p(facts({ rdns: 'a.b.example.net' })), true);
    assert.equal(p(facts({ rdns: 'example.net' })), false);
    assert.equal(p(facts({ rdns: 'badexample.net' })), false);
    assert.equal(p(facts({ rdns: 'x.example.org' })), true);
    assert.equal(p(facts({ rdns: 'example.org' })), false);
    assert.equal(p(facts({ rdns: null })), false);
  });

  test('helo ~ the issue example: bare and bracketed IPs, not names', () => {
    const p = condition('helo ~ /^\\[?[0-9.]+\\]?$/');
    assert.equal(p(facts({ helo: '192.0.2.1' })), true);
    assert.equal(p(facts({ helo: '[192.0.2.1]' })), true);
    assert.equal(p(facts({ helo: 'mail.example.org' })), false);
    assert.equal(p(facts({ helo: null })), false);
  });

  test('helo in LIST: names, and address literals against IP items', () => {
    const p = condition('helo in names', 'list names = { localhost, 192.0.2.0/24, ::1 }');
    assert.equal(p(facts({ helo: 'LOCALHOST' })), true);
    assert.equal(p(facts({ helo: '[192.0.2.5]' })), true);
    assert.equal(p(facts({ helo: '192.0.2.5' })), true);
    assert.equal(p(facts({ helo: '[IPv6:::1]' })), true);
    assert.equal(p(facts({ helo: '[198.51.100.1]' })), false);
    assert.equal(p(facts({ helo: 'localhost.example' })), false);
  });

  test('mail-from in LIST: addresses exactly, domains, subdomains, and the null sender', () => {
    const p = condition('mail-from in senders', 'list senders = { "", Bulk@Example.com, example.org, .example.net }');
    assert.equal(p(facts({ mailFrom: '' })), true);
    assert.equal(p(facts({ mailFrom: 'bulk@EXAMPLE.com' })), true);
    assert.equal(p(facts({ mailFrom: 'other@example.com' })), false);
    assert.equal(p(facts({ mailFrom: 'anyone@Example.ORG' })), true);
    assert.equal(p(facts({ mailFrom: 'anyone@sub.example.org' })), false);
    assert.equal(p(facts({ mailFrom: 'anyone@sub.example.net' })), true);
    assert.equal(p(facts({ mailFrom: 'anyone@example.net' })), false);
    assert.equal(p(facts({ mailFrom: null })), false);
    const withoutNull = condition('mail-from in { example.org }');
    assert.equal(withoutNull(facts({ mailFrom: '' })), false);
  });

  test('mail-from ~ /RE/ sees the address without brackets; the null sender is ""', () => {
    const p = condition('mail-from ~ /^bulk@/');
    assert.equal(p(facts({ mailFrom: 'BULK@example.com' })), true);
    assert.equal(p(facts({ mailFrom: 'alice@example.com' })), false);
    assert.equal(condition('mail-from ~ /^$/')(facts({ mailFrom: '' })), true);
  });

  test('rcpt-to: the recipient at rcpt-to; any accepted recipient at data and commit', () => {
    const p = condition('rcpt-to in { abuse@example.com, postmaster@example.com }');
    assert.equal(p(facts({ rcptTo: 'Abuse@example.com' })), true);
    assert.equal(p(facts({ rcptTo: 'alice@example.com', recipients: ['abuse@example.com'] })), false);
    assert.equal(p(facts({ rcptTo: null, recipients: ['alice@example.com', 'postmaster@example.com'] })), true);
    assert.equal(p(facts({ rcptTo: null, recipients: ['alice@example.com'] })), false);
    assert.equal(p(facts({ rcptTo: null, recipients: [] })), false);
  });

  test('not > and > or', () => {
    // (not rdns) and fcrdns, or helo matches.
    const p = condition('not rdns and fcrdns or helo ~ /^x$/');
    assert.equal(p(facts({ rdns: null, fcrdns: 'pass', helo: 'y' })), true);
    assert.equal(p(facts({ rdns: 'a', fcrdns: 'pass', helo: 'y' })), false);
    assert.equal(p(facts({ rdns: 'a', fcrdns: 'fail', helo: 'x' })), true);
    const q = condition('not (rdns or fcrdns)');
    assert.equal(q(facts({ rdns: null, fcrdns: 'fail' })), true);
    assert.equal(q(facts({ rdns: null, fcrdns: 'pass' })), false);
  });

  test('inline lists work wherever a list name does', () => {
    const p = condition('src in { 10.0.0.0/8 } or rdns in { .example.com }');
    assert.equal(p(facts({ src: '10.1.1.1', rdns: null })), true);
    assert.equal(p(facts({ src: '11.1.1.1', rdns: 'a.example.com' })), true);
    assert.equal(p(facts({ src: '11.1.1.1', rdns: 'example.com' })), false);
  });

  test('list files: one item per line, comments, relative to the rules file', () => {
    const rules = compileOk('list blocked = file "lists/blocked.txt"\nchain c = disconnect "554 5.7.1 no" when src in blocked', {
      readFile: (path) => {
        assert.equal(path, 'lists/blocked.txt');
        return '# blocked networks\n198.51.100.0/24   # a spammer\r\n\n  2001:db8:bad::/48\n';
      },
    });
    const when = onlyChain(rules).steps[0]?.when;
    assert.ok(when);
    assert.equal(when(facts({ src: '198.51.100.77' })), true);
    assert.equal(when(facts({ src: '2001:db8:bad::1' })), true);
    assert.equal(when(facts({ src: '203.0.113.1' })), false);
  });

  test('a hostile 50k-character HELO against ^(a+)+$ returns promptly and correctly', () => {
    const p = condition('helo ~ /^(a+)+$/');
    const started = Date.now();
    assert.equal(p(facts({ helo: `${'a'.repeat(50_000)}!` })), false);
    assert.equal(p(facts({ helo: 'a'.repeat(50_000) })), true);
    assert.ok(Date.now() - started < 1000);
  });
});
