/**
 * The smtps-port guess checked against what smtpd reports (SmtpsPortCheck in
 * the host), with recorded sessions: an smtps session recorded from smtpd 7.8
 * (test/fixtures/transcripts/smtpd-7.8/01-smtps-pregreet.txt: link-tls right
 * after our connect answer, before any link-identify) and a plain one from
 * smtpd 6.8 (smtpd-6.8/01-delivery.txt: EHLO, no TLS), each replayed at the
 * listener port a test chooses.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { StepAction } from '../../../src/model/plan.js';
import { chain, HostHarness, pause, rules } from './helpers.js';

const FIXTURES = new URL('../../../../test/fixtures/transcripts/', import.meta.url);
const SMTPS = readFileSync(new URL('smtpd-7.8/01-smtps-pregreet.txt', FIXTURES), 'utf8');
const PLAIN = readFileSync(new URL('smtpd-6.8/01-delivery.txt', FIXTURES), 'utf8');

const PREGREET: StepAction = { kind: 'pause', durationMs: 1000, pregreet: { action: 'disconnect', reply: '554 5.5.1 Protocol error: data sent before the greeting' } };

/** The `> ` lines of a recording, its session moved to listener `port` and to session id `sid`. */
function session(recording: string, port: number, sid: string): string[] {
  const lines = recording.split('\n').filter((l) => l.startsWith('> ')).map((l) => l.slice(2));
  const original = lines[0]?.split('|')[5] ?? '';
  return lines.map((l) => {
    let out = l.split(`|${original}`).join(`|${sid}`);
    if (out.includes('|link-connect|')) out = out.replace(/:[0-9]+$/, `:${port}`);
    return out;
  });
}

/** Replays a session; the connect pause is let run out on the fake clock. */
async function play(h: HostHarness, lines: readonly string[]): Promise<string[]> {
  const answers: string[] = [];
  for (const l of lines) {
    answers.push(...h.feed(l));
    if (l.includes('|connect|')) answers.push(...(await h.advance(1000)));
  }
  return answers;
}

/** The check's warnings (a 0.6 session after a 0.7 one also gets "protocol version changed"). */
const warnings = (h: HostHarness): string[] =>
  h.log.records.filter((r) => r.level === 'warn' && (r.msg ?? '').includes('--smtps-ports')).map((r) => `${String(r.fields['port'])} ${r.msg ?? ''}`);

let n = 0;
const sid = (): string => (0x5e55000000000000n + BigInt(++n)).toString(16);

describe('the smtps-port guess against the reports', () => {
  test('agreeing: an smtps session on 465 and a plain one on 25 say nothing; every request answered', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: PREGREET, phase: 'connect' }])]));
    const a = await play(h, session(SMTPS, 465, sid()));
    const b = await play(h, session(PLAIN, 25, sid()));
    assert.equal(a.filter((l) => l.endsWith('|proceed')).length, 6, a.join('\n'));
    assert.equal(b.filter((l) => l.endsWith('|proceed')).length, 6, b.join('\n'));
    assert.deepEqual(warnings(h), []);
  });

  test('an smtps session on a port --smtps-ports does not name: one warning for that port', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: PREGREET, phase: 'connect' }])]));
    await play(h, session(SMTPS, 10465, sid()));
    await play(h, session(SMTPS, 10465, sid()));
    const w = warnings(h);
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(w[0] ?? '', /^10465 sessions on this port are implicit TLS .*add the port to --smtps-ports/);
  });

  test('a plain session on a port --smtps-ports names (465 by default): one warning that pregreet is not applied there', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: PREGREET, phase: 'connect' }])]));
    await play(h, session(PLAIN, 465, sid()));
    await play(h, session(PLAIN, 465, sid()));
    const w = warnings(h);
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(w[0] ?? '', /^465 sessions on this port speak plain SMTP first .*pregreet is not applied to them/);
  });

  test('the ports given to the host are the ones checked', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: PREGREET, phase: 'connect' }])]), { smtpsPorts: new Set([10465]) });
    await play(h, session(SMTPS, 10465, sid()));
    await play(h, session(PLAIN, 465, sid()));
    assert.deepEqual(warnings(h), []);
  });

  test('rules without pregreet: the guess decides nothing, so nothing is said', async () => {
    const h = new HostHarness(rules([chain('main', [{ action: pause(1000), phase: 'connect' }])]));
    await play(h, session(SMTPS, 10465, sid()));
    await play(h, session(PLAIN, 465, sid()));
    assert.deepEqual(warnings(h), []);
  });
});
