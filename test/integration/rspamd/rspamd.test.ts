/**
 * The rspamd step against a real rspamd (Debian's 3.4, rspamd.ts), through
 * the filter process (CliFilter) speaking smtpd 6.8's protocol: GTUBE is
 * refused at commit with rspamd's message; a clean message comes back byte
 * for byte but for the headers rspamd adds and removes; rspamd down (a
 * refused port) or hung (its processes stopped) leads to on-error within the
 * step's timeout, with every line and the dot given back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliFilter, newSessionId, TEMPFAIL, TOKENS, waitFor } from '../faults/live.js';
import { freeTcpPort, Rspamd, withoutFields as without } from './rspamd.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

/** A message as smtpd streams it: its Received lines, the client's headers and body, dot-stuffed. */
function messageLines(subject: string, body: readonly string[], extra: readonly string[] = []): string[] {
  return [
    'Received: from mx.example.net (mx.example.net [192.0.2.10])',
    '\tby vm (OpenSMTPD) with ESMTP id 0a0b0c0d',
    '\tfor <bob@example.org>;',
    '\tFri, 4 Dec 2026 19:00:00 +0000 (UTC)',
    'From: alice@example.net',
    'To: bob@example.org',
    `Subject: ${subject}`,
    ...extra,
    'Message-ID: <1@example.net>',
    'Date: Fri, 4 Dec 2026 19:00:00 +0000',
    '',
    ...body,
  ];
}

/** One transaction through the filter: its data-lines answered (up to our dot), then commit. */
async function transaction(filter: CliFilter, lines: readonly string[]): Promise<{ out: string[]; commit: string }> {
  const sid = newSessionId();
  await filter.open(sid);
  await filter.ask(sid, 'rcpt-to', 'bob@example.org');
  filter.feed(`report|0.6|1.0|smtp-in|tx-rcpt|${sid}|0a0b0c0d|ok|bob@example.org`);
  await filter.ask(sid, 'data', '');
  const prefix = `filter-dataline|${sid}|${TOKENS['data-line']}|`;
  const stamp = (Date.now() / 1000).toFixed(6);
  filter.feed(...[...lines, '.'].map((l) => `filter|0.6|${stamp}|smtp-in|data-line|${sid}|${TOKENS['data-line']}|${l}`));
  await waitFor(() => filter.written.includes(`${prefix}.`), 30_000, 'the final dot');
  const out = filter.written.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
  const commit = (await filter.ask(sid, 'commit', '')).decision;
  filter.close(sid);
  return { out, commit };
}

describe('rspamd step against rspamd 3.4', () => {
  let rspamd: Rspamd;
  let dir: string;
  const filters: CliFilter[] = [];

  async function filterWith(step: string): Promise<CliFilter> {
    const rules = join(dir, `r${filters.length}.rules`);
    writeFileSync(rules, `chain main =\n    ${step}\n`);
    const f = await CliFilter.start([process.execPath, MAIN, rules]);
    filters.push(f);
    return f;
  }

  before(async () => {
    rspamd = await Rspamd.start();
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-rspamd-it-'));
  });

  after(async () => {
    for (const f of filters) f.kill();
    await rspamd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('GTUBE is refused at commit with rspamd’s message; the lines and the dot went back once', async () => {
    const filter = await filterWith(`rspamd "${rspamd.url}"`);
    const lines = messageLines('test', [GTUBE]);
    const { out, commit } = await transaction(filter, lines);
    assert.equal(commit, 'reject|550 5.7.1 Gtube pattern');
    assert.equal(out.at(-1), '.');
    assert.equal(out.filter((l) => l === '.').length, 1);
    assert.deepEqual(filter.invalidLines().filter((l) => !l.startsWith('filter-dataline|')), []);
  });

  test('a clean message comes back byte for byte but for rspamd’s headers: added, and the upstream ones removed', async () => {
    const filter = await filterWith(`rspamd "${rspamd.url}"`);
    const lines = messageLines('hello there', ['Just a normal message.', '..a line that starts with a dot', 'with|pipes|inside', '', 'bye'], ['X-Spam-Status: Yes, upstream']);
    const { out, commit } = await transaction(filter, lines);
    assert.equal(commit, 'proceed');
    assert.ok(out.includes('X-Rspamd-Action: no action'), out.join('\n'));
    assert.ok(out.some((l) => l.startsWith('X-Spamd-Result: default: False [')));
    assert.ok(!out.includes('X-Spam-Status: Yes, upstream'), 'remove_headers X-Spam-Status 0: the upstream one is gone');
    const added = ['X-Spamd-Result', 'X-Rspamd-Server', 'X-Spam-Status', 'X-Rspamd-Action'];
    assert.deepEqual(without(out, added), [...without(lines, added), '.'], 'the rest, dot-stuffing included, as received');
  });

  test('rspamd down (a refused port): tempfail by default, proceed with on-error proceed; the message goes back unedited', async () => {
    const closed = await freeTcpPort();
    const tempfail = await filterWith(`rspamd "http://127.0.0.1:${closed}"`);
    const lines = messageLines('hello', ['body']);
    const a = await transaction(tempfail, lines);
    assert.equal(a.commit, TEMPFAIL);
    assert.deepEqual(a.out, [...lines, '.']);
    const proceed = await filterWith(`rspamd "http://127.0.0.1:${closed}" on-error proceed`);
    const b = await transaction(proceed, lines);
    assert.equal(b.commit, 'proceed');
    assert.deepEqual(b.out, [...lines, '.']);
    assert.ok(tempfail.logs().some((l) => l.msg === 'rspamd request failed'));
  });

  test('rspamd hung (its processes stopped, the port still accepting): on-error at the timeout, the lines and the dot given back', async () => {
    const filter = await filterWith(`rspamd "${rspamd.url}" timeout 1s`);
    rspamd.freeze(true);
    try {
      const lines = messageLines('hello', ['body']);
      const { out, commit } = await transaction(filter, lines);
      assert.equal(commit, TEMPFAIL);
      assert.deepEqual(out, [...lines, '.']);
      const failed = filter.logs().find((l) => l.msg === 'step failed');
      assert.equal(failed?.['timedOut'], true, JSON.stringify(failed));
    } finally {
      rspamd.freeze(false);
    }
  });
});
