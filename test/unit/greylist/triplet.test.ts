import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTriplet, tripletFromKey, tripletKey } from '../../../src/greylist/triplet.js';

const prefixes = { ipv4Prefix: 24, ipv6Prefix: 64 };

test('a triplet is keyed network/normalized-sender/recipient, lower case, and remembers the full client', () => {
  const r = buildTriplet({ src: '192.0.2.77', mailFrom: 'Bounce-1234@Lists.Example', rcptTo: 'Bob@Example.NET' }, prefixes);
  assert.deepEqual(r, {
    ok: true,
    value: {
      client: '192.0.2.77',
      network: '192.0.2.0',
      sender: 'bounce-#@lists.example',
      recipient: 'bob@example.net',
      key: '192.0.2.0/bounce-#@lists.example/bob@example.net',
    },
  });
});

test('IPv6 and IPv4-mapped clients', () => {
  const v6 = buildTriplet({ src: '2001:db8:0:1::25', mailFrom: '', rcptTo: 'a@b.example' }, prefixes);
  assert.ok(v6.ok);
  assert.equal(v6.value.key, '2001:db8:0:1:://a@b.example');
  assert.equal(v6.value.client, '2001:db8:0:1::25');
  const mapped = buildTriplet({ src: '::ffff:192.0.2.77', mailFrom: 'x@y.example', rcptTo: 'a@b.example' }, prefixes);
  assert.ok(mapped.ok);
  assert.equal(mapped.value.client, '192.0.2.77');
  assert.equal(mapped.value.network, '192.0.2.0');
});

test('the recipient is lower-cased in ASCII only and keeps its +extension, as postgrey keys it', () => {
  const r = buildTriplet({ src: '192.0.2.77', mailFrom: 'a@b.example', rcptTo: 'ÅSA+Lists@Example.NET' }, prefixes);
  assert.ok(r.ok);
  assert.equal(r.value.recipient, 'Åsa+lists@example.net');
});

test('a non-IP client is an error value naming it', () => {
  const r = buildTriplet({ src: 'local', mailFrom: 'x@y.example', rcptTo: 'a@b.example' }, prefixes);
  assert.deepEqual(r, { ok: false, error: 'client address "local" is not an IP address' });
});

test('tripletKey is the key layout buildTriplet uses', () => {
  const r = buildTriplet({ src: '198.51.100.9', mailFrom: 'a@b.example', rcptTo: 'c@d.example' }, prefixes);
  assert.ok(r.ok);
  assert.equal(tripletKey(r.value.network, r.value.sender, r.value.recipient), r.value.key);
  assert.equal(tripletKey('192.0.2.0', '', 'x@y.example'), '192.0.2.0//x@y.example');
});

test('tripletFromKey: a key as written is the triplet the filter builds from those three fields', () => {
  const r = tripletFromKey('192.0.2.77/Bounce-1234@Lists.Example/Bob@Example.NET', prefixes);
  assert.deepEqual(r, {
    ok: true,
    value: { network: '192.0.2.0', sender: 'bounce-#@lists.example', recipient: 'bob@example.net', key: '192.0.2.0/bounce-#@lists.example/bob@example.net' },
  });
  // A key the filter built reads back as itself (what `greylist list` shows, `delete` takes).
  for (const [src, mailFrom, rcptTo] of [
    ['2001:db8:0:1::25', '', 'a@b.example'],
    ['::ffff:192.0.2.77', 'SRS0=HHH=TT=orig.example=user@fwd.example', 'a@b.example'],
    ['203.0.113.5', 'odd/local+tag@example.org', 'x@y.example'],
  ] as const) {
    const built = buildTriplet({ src, mailFrom, rcptTo }, prefixes);
    assert.ok(built.ok);
    const { network, sender, recipient, key } = built.value;
    assert.deepEqual(tripletFromKey(key, prefixes), { ok: true, value: { network, sender, recipient, key } }, src);
  }
  // The prefixes are the step's: a /16 step keys the same client on a wider network.
  const wide = tripletFromKey('192.0.2.77/a@b.example/c@d.example', { ipv4Prefix: 16, ipv6Prefix: 48 });
  assert.ok(wide.ok && wide.value.key === '192.0.0.0/a@b.example/c@d.example');
});

test('tripletFromKey: not three fields, or no address first, are typed errors', () => {
  for (const text of ['alice@example.org', '192.0.2.1/a@b.example', '']) assert.deepEqual(tripletFromKey(text, prefixes), { ok: false, error: { kind: 'not-a-key' } }, text);
  assert.deepEqual(tripletFromKey('mx.example/a@b/c@d', prefixes), { ok: false, error: { kind: 'bad-network', network: 'mx.example' } });
  assert.deepEqual(tripletFromKey('/a@b/c@d', prefixes), { ok: false, error: { kind: 'bad-network', network: '' } });
});
