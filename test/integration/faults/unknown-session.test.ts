/**
 * Issue 10, item 4, through the real filter process (`node dist/src/cli/main.js`,
 * protocol lines on stdin, real SQLite greylisting): a request from a session
 * the filter does not know is never judged as a local or rDNS-less client.
 *
 * Before the fix such a session was made up from the request: an empty
 * address (treated as local, so greylisting was skipped) and no rDNS (so
 * `when not rdns` refused it with a 5xx). Now every rule phase after connect
 * gets the phase's 4xx tempfail and no step runs, while a connect request,
 * which carries the client's address and rDNS, is judged as usual.
 *
 * (Sessions forgotten after 30 quiet minutes were the way to get here; there
 * is no idle expiry any more, which the unit tests show with a fake clock.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliFilter, newSessionId, TEMPFAIL } from './live.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const NO_RDNS_CONNECT = 'disconnect|421 4.7.1 no reverse DNS here';
const GREYLISTED = /^reject\|451 4\.7\.1 Greylisted, please try again in 60 seconds$/;
const UNKNOWN_MSG = /^request for an unknown session/;

describe('requests of unknown sessions, through the real filter process', () => {
  let dir: string;
  let filter: CliFilter;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-unknown-'));
    const rules = join(dir, 'antispam.rules');
    writeFileSync(
      rules,
      [
        'chain main =',
        '    disconnect "421 4.7.1 no reverse DNS here" when not rdns',
        '    then reject "550 5.7.1 no reverse DNS" at mail-from when not rdns',
        `    then greylist delay 1m store "sqlite:${join(dir, 'greylist.db')}"`,
        '',
      ].join('\n'),
    );
    filter = await CliFilter.start([process.execPath, MAIN, rules]);
  });
  after(() => {
    filter?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const logsFor = (sid: string) => filter.logs().filter((l) => l.session === sid);

  test('a known session from 192.0.2.7 with rDNS: judged on its facts (greylisted at RCPT)', async () => {
    const sid = newSessionId();
    await filter.open(sid, { src: '192.0.2.7' });
    assert.match((await filter.ask(sid, 'rcpt-to', 'user@example.org')).decision, GREYLISTED);
    filter.close(sid);
  });

  test('MAIL FROM and RCPT TO of a session never seen: 451 tempfail, never 5xx, never let through as local', async () => {
    const sid = newSessionId();
    const mail = await filter.ask(sid, 'mail-from', 'alice@example.net');
    const rcpt = await filter.ask(sid, 'rcpt-to', 'user@example.org');
    const commit = await filter.ask(sid, 'commit', '');
    assert.equal(mail.decision, TEMPFAIL);
    assert.equal(rcpt.decision, TEMPFAIL, 'greylisting was not skipped, and no 4.7.1 greylisting from a made-up address');
    // No step at commit in these rules: nothing missing could change the answer.
    assert.equal(commit.decision, 'proceed');
    await filter.waitForLog(UNKNOWN_MSG);
    const logged = logsFor(sid);
    assert.deepEqual(
      logged.filter((l) => UNKNOWN_MSG.test(String(l.msg))).map((l) => l.phase),
      ['mail-from', 'rcpt-to'],
    );
    assert.ok(!logged.some((l) => l.msg === 'decision'), 'no rule decided for it');
    filter.close(sid);
  });

  test('a connect request of a session never seen is judged on its param', async () => {
    const nameless = newSessionId();
    assert.equal((await filter.ask(nameless, 'connect', '<unknown>|192.0.2.77')).decision, NO_RDNS_CONNECT);
    filter.close(nameless);
    // With rDNS in the param the session is kept, and its later phases are judged with it.
    const named = newSessionId();
    assert.equal((await filter.ask(named, 'connect', 'mx.example.net|192.0.2.78')).decision, 'proceed');
    assert.equal((await filter.ask(named, 'mail-from', 'bob@example.net')).decision, 'proceed');
    assert.match((await filter.ask(named, 'rcpt-to', 'user@example.org')).decision, GREYLISTED);
    filter.close(named);
  });

  test('the filter keeps running; no invalid line; exits 0 at EOF', async () => {
    assert.ok(filter.running);
    assert.deepEqual(filter.invalidLines(), []);
    assert.deepEqual(await filter.end(), { code: 0, signal: null });
  });
});
