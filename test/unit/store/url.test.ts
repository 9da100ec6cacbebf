import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_REDIS_PREFIX, parseStoreUrl, redactStoreUrl } from '../../../src/store/url.js';

describe('store URLs', () => {
  test('sqlite:/absolute/path and sqlite:///absolute/path', () => {
    assert.deepEqual(parseStoreUrl('sqlite:/var/lib/filter-rules/greylist.db'), {
      ok: true,
      value: { kind: 'sqlite', path: '/var/lib/filter-rules/greylist.db' },
    });
    assert.deepEqual(parseStoreUrl('sqlite:///var/lib/g.db'), { ok: true, value: { kind: 'sqlite', path: '/var/lib/g.db' } });
  });

  test('sqlite paths must be absolute (smtpd runs the filter from /)', () => {
    const r = parseStoreUrl('sqlite:greylist.db');
    assert.deepEqual(r, { ok: false, error: 'store sqlite:greylist.db: the path must be absolute (smtpd starts the filter in "/")' });
    assert.ok(!parseStoreUrl('sqlite:').ok);
  });

  test('redis://host:port/db with defaults, credentials and a key prefix', () => {
    assert.deepEqual(parseStoreUrl('redis://10.0.0.5:6380/2'), {
      ok: true,
      value: {
        kind: 'redis',
        connection: { kind: 'tcp', host: '10.0.0.5', port: 6380 },
        db: 2,
        username: null,
        password: null,
        prefix: DEFAULT_REDIS_PREFIX,
      },
    });
    const r = parseStoreUrl('redis://gl:s%40cret@redis.example/?prefix=site1:');
    assert.ok(r.ok && r.value.kind === 'redis');
    assert.deepEqual(r.value.connection, { kind: 'tcp', host: 'redis.example', port: 6379 });
    assert.equal(r.value.db, 0);
    assert.equal(r.value.username, 'gl');
    assert.equal(r.value.password, 's@cret');
    assert.equal(r.value.prefix, 'site1:');
    const v6 = parseStoreUrl('valkey://[::1]:7000/1');
    assert.ok(v6.ok && v6.value.kind === 'redis');
    assert.deepEqual(v6.value.connection, { kind: 'tcp', host: '::1', port: 7000 });
  });

  test('redis+unix:///path?db=N', () => {
    const r = parseStoreUrl('redis+unix:///run/redis/redis.sock?db=3');
    assert.ok(r.ok && r.value.kind === 'redis');
    assert.deepEqual(r.value.connection, { kind: 'unix', path: '/run/redis/redis.sock' });
    assert.equal(r.value.db, 3);
  });

  test('mistakes are messages that name the URL (password hidden)', () => {
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      ['redis://h/x', /database must be a number, got "x"/],
      ['redis://:pw@h/x', /^store redis:\/\/:\*\*\*@h\/x: database must be a number/],
      ['mysql://h/db', /unknown scheme "mysql"/],
      ['greylist.db', /not a store URL/],
      ['redis+unix://', /absolute socket path/],
    ];
    for (const [url, re] of cases) {
      const r = parseStoreUrl(url);
      assert.ok(!r.ok, url);
      assert.match(r.error, re, url);
    }
  });

  test('redaction hides only the password', () => {
    assert.equal(redactStoreUrl('redis://user:secret@h:1/0'), 'redis://user:***@h:1/0');
    assert.equal(redactStoreUrl('redis://h:1/0'), 'redis://h:1/0');
    assert.equal(redactStoreUrl('sqlite:/a/b.db'), 'sqlite:/a/b.db');
  });
});
