import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTriplet } from '../../../src/greylist/triplet.js';

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
