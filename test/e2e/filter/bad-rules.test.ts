/**
 * Invalid rules at startup: the filter writes the located problems to stderr (which
 * smtpd logs as `rules: …`) and exits, and smtpd refuses to run ("lost processor"),
 * like `smtpd -n` on a broken smtpd.conf. The admin sees why in the log.
 * A list file that is a FIFO is such a problem too: refused at once, where it
 * used to block the filter before its registration (smtpd waited, no banner).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { Smtpd } from '../harness/smtpd.js';

const BAD = ['list trusted = { 127.0.0.0/8 }', 'chain antispam =', '    accept when src in trustd', '    then pause 3s', ''].join('\n');

const skip = e2eSkipReason();

describe('filter-rules in real smtpd: invalid rules at startup', { skip: skip ?? false }, () => {
  test('the problems reach smtpd’s log and smtpd does not start serving', async () => {
    const rt = filterRuntime();
    const smtpd = Smtpd.launch({
      files: { 'bad.rules': BAD },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'bad.rules')],
    });
    try {
      await smtpd.withLog(async () => {
        await smtpd.waitForExit(20_000);
        const log = smtpd.log();
        // `trustd` is on line 3, column 24.
        assert.match(log, /^rules: .*bad\.rules:3:24: error\[/m);
        assert.match(log, /lost processor: rules exited abnormally/);
      });
    } finally {
      await smtpd.stop();
    }
  });

  test('a FIFO as a list file: refused with its place, smtpd stops instead of waiting', async () => {
    const rt = filterRuntime();
    const smtpd = Smtpd.launch({
      files: { 'fifo.rules': 'list blocked = file "blocked.list"\nchain antispam = reject "550 5.7.1 listed" when mail-from in blocked at rcpt-to\n' },
      filter: (dir) => {
        execFileSync('mkfifo', ['-m', '0644', join(dir, 'blocked.list')]);
        return [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'fifo.rules')];
      },
    });
    try {
      await smtpd.withLog(async () => {
        await smtpd.waitForExit(20_000);
        const log = smtpd.log();
        assert.match(log, /^rules: .*fifo\.rules:1:21: error\[E060\]: list file ".*blocked\.list" cannot be used: it is a FIFO/m);
        assert.match(log, /lost processor: rules exited abnormally/);
      });
    } finally {
      await smtpd.stop();
    }
  });
});
