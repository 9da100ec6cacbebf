import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGreylistHeader, formatGreylistReply, formatRfc5322Date } from '../../../src/greylist/header.js';

const T = Date.UTC(2026, 10, 25, 12, 0, 5);

test('RFC 5322 dates at a fixed offset', () => {
  assert.equal(formatRfc5322Date(T, 0), 'Wed, 25 Nov 2026 12:00:05 +0000');
  assert.equal(formatRfc5322Date(T, 60), 'Wed, 25 Nov 2026 13:00:05 +0100');
  assert.equal(formatRfc5322Date(T, -330), 'Wed, 25 Nov 2026 06:30:05 -0530');
  assert.equal(formatRfc5322Date(Date.UTC(2027, 0, 1, 0, 30), -60), 'Thu, 31 Dec 2026 23:30:00 -0100');
});

test("X-Greylist header in postgrey's wording, whole seconds rounded down", () => {
  assert.equal(
    formatGreylistHeader({ delayedMs: 312_999, version: '0.1.0', hostname: 'mx1.example.org', epochMs: T, offsetMinutes: 0 }),
    'X-Greylist: delayed 312 seconds by filter-rules-0.1.0 at mx1.example.org; Wed, 25 Nov 2026 12:00:05 +0000',
  );
});

test('the greylist reply is a valid single-line 451 with the seconds left, at least 1', () => {
  assert.equal(formatGreylistReply(300_000), '451 4.7.1 Greylisted, please try again in 300 seconds');
  assert.equal(formatGreylistReply(1_500), '451 4.7.1 Greylisted, please try again in 2 seconds');
  assert.equal(formatGreylistReply(1), '451 4.7.1 Greylisted, please try again in 1 second');
  assert.match(formatGreylistReply(0), /^4[0-9]{2} /);
});
