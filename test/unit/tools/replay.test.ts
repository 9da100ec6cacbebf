/**
 * `filter-rules replay` on the smtpd 6.8 recordings. The strongest check:
 * rules that reproduce the recording probe's decisions give, request by
 * request, the answers the probe gave to the real smtpd.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { loadRules } from '../../../src/cli/commands.js';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { stateless } from '../../../src/steps/service.js';
import { formatReplay, runReplay, type ReplayEvent, type ReplaySession, type TranscriptFile } from '../../../src/tools/replay.js';
import { testServices } from '../runtime/helpers.js';

const TRANSCRIPTS = new URL('../../../../test/fixtures/transcripts/smtpd-6.8/', import.meta.url);
const FIXTURES = new URL('../../../../test/fixtures/tools/', import.meta.url);

const names = readdirSync(TRANSCRIPTS)
  .filter((f) => f.endsWith('.txt') && !f.includes('.client.'))
  .sort();
const transcript = (name: string): TranscriptFile => ({ name, data: readFileSync(new URL(name, TRANSCRIPTS)) });

function rules(name: string) {
  const loaded = loadRules(new URL(name, FIXTURES).pathname, null);
  if (!loaded.ok) throw new Error(loaded.messages.join('\n'));
  return loaded;
}

const answers = (s: ReplaySession | undefined) =>
  (s?.events ?? []).filter((e): e is Extract<ReplayEvent, { kind: 'answer' }> => e.kind === 'answer').map((e) => [e.request, e.answer.replace(/ \(accept\)$/, '')]);

/** What the probe answered, per session: [request, answer] in order, from the `<` lines. */
function recorded(name: string): Map<string, string[][]> {
  const bySession = new Map<string, string[][]>();
  const open = new Map<string, string>();
  for (const l of readFileSync(new URL(name, TRANSCRIPTS), 'utf8').split('\n')) {
    const req = /^> filter\|[^|]*\|[^|]*\|smtp-in\|([^|]+)\|([0-9a-f]+)\|([0-9a-f]+)\|/.exec(l);
    if (req !== null && req[1] !== 'data-line') open.set(`${req[2]}|${req[3]}`, req[1] ?? '');
    const res = /^< filter-result\|([0-9a-f]+)\|([0-9a-f]+)\|(.*)$/.exec(l);
    if (res === null) continue;
    const phase = open.get(`${res[1]}|${res[2]}`) ?? '?';
    const [decision, ...param] = (res[3] ?? '').split('|');
    const list = bySession.get(res[1] ?? '') ?? [];
    list.push([phase, param.length === 0 ? (decision ?? '') : `${decision} ${param.join('|')}`]);
    bySession.set(res[1] ?? '', list);
  }
  return bySession;
}

describe('replay of the smtpd 6.8 recordings', () => {
  for (const name of names) {
    test(`${name}: the probe's rules give the answers the probe gave (its HELO rewrite aside)`, async () => {
      const report = await runReplay(rules('probe.rules'), [transcript(name)], { mode: 'offline', startWallMs: 0 });
      assert.equal(report.unanswered, 0);
      for (const [sid, expected] of recorded(name)) {
        const got = answers(report.sessions.find((s) => s.id === sid));
        const wanted = expected.map(([phase, answer]) => [phase, answer?.startsWith('rewrite ') ? 'proceed' : answer]);
        assert.deepEqual(got, wanted, `${name} session ${sid}`);
      }
    });
  }

  test('dry-run steps are listed under their request and change no answer', async () => {
    const report = await runReplay(rules('probe.rules'), [transcript('02-helo-two-rcpts.txt')], { mode: 'offline', startWallMs: 0 });
    const events = report.sessions[0]?.events ?? [];
    const helo = events.findIndex((e) => e.kind === 'answer' && e.request === 'helo');
    assert.deepEqual(events[helo], { kind: 'answer', request: 'helo', param: 'rewrite.me', answer: 'proceed', rule: null });
    assert.deepEqual(events[helo + 1], { kind: 'dry-run', text: 'would reject 550 5.7.1 we would refuse this HELO', rule: 'probe.rules:9' });
    assert.deepEqual(events[1], { kind: 'dry-run', text: 'would pause', rule: 'probe.rules:10' });
  });

  test('deciding rules are named by file:line', async () => {
    const report = await runReplay(rules('probe.rules'), [transcript('06-disconnect-decision.txt')], { mode: 'offline', startWallMs: 0 });
    const last = answers(report.sessions[0]).at(-1);
    assert.deepEqual(last, ['rcpt-to', 'disconnect 421 4.7.0 Closing connection']);
    const event = report.sessions[0]?.events.find((e) => e.kind === 'answer' && e.answer.startsWith('disconnect'));
    assert.equal(event?.kind === 'answer' ? event.rule : null, 'probe.rules:7');
  });

  test('a file with two filter runs (two handshakes) replays each on a fresh filter', async () => {
    const one = readFileSync(new URL('01-delivery.txt', TRANSCRIPTS), 'utf8');
    const handshake = ['config|smtpd-version|6.8.0p2', 'config|smtp-session-timeout|300', 'config|subsystem|smtp-in', 'config|admd|vm', 'config|ready'].map((l) => `> ${l}`).join('\n');
    const data = Buffer.from(`${handshake}\n${one}${handshake}\n${one}`);
    const report = await runReplay(rules('probe.rules'), [{ name: 'twice.txt', data }], { mode: 'offline', startWallMs: 0 });
    assert.equal(report.sessions.length, 2, 'the same session id in two runs is two sessions');
    assert.deepEqual(answers(report.sessions[0]), answers(report.sessions[1]));
    assert.equal(report.unanswered, 0);
  });

  test('a transcript that starts mid-session: that session is tempfailed where rules would run, and the listing says why', async () => {
    // As after a --record rotation: the session's link-connect and connect request are in the previous file.
    const all = readFileSync(new URL('01-delivery.txt', TRANSCRIPTS), 'utf8').split('\n');
    const data = Buffer.from(all.slice(all.findIndex((l) => l.includes('|smtp-in|mail-from|'))).join('\n'));
    const compiled = compileRulesSource('chain a = reject "550 5.7.1 no rDNS" at mail-from when not rdns\n', 'a.rules');
    assert.ok(compiled.ok);
    const chain = compiled.rules.chains.get('a');
    assert.ok(chain);
    const report = await runReplay({ rules: compiled.rules, chain }, [{ name: 'rotated.rec', data }], { mode: 'offline', startWallMs: 0 });
    const got = answers(report.sessions[0]);
    assert.deepEqual(got[0], ['mail-from', 'reject 451 4.3.0 Temporary failure, please try again later'], 'not 550: the session is unknown, not rDNS-less');
    assert.match(formatReplay(report, 'x'), /^# 3689fe601e5436b4: its connect is not in the transcript; the filter answers a session it does not know with a tempfail/m);
  });

  test('online: the step services are asked, and a header they add is listed', async () => {
    const services = testServices({
      policy: stateless((step) => ({ step, run: async () => ({ type: 'continue', addHeaders: ['X-Greylist: delayed 10 seconds'], detail: { answer: 'PREPEND X' } }) })),
    });
    const compiled = compileRulesSource('chain a = postgrey unix:/run/p.sock\n', 'p.rules', { readFile: () => '' });
    assert.ok(compiled.ok);
    const chain = compiled.rules.chains.get('a');
    assert.ok(chain);
    const report = await runReplay({ rules: compiled.rules, chain }, [transcript('01-delivery.txt')], { mode: 'online', startWallMs: 0, services });
    const headers = report.sessions[0]?.events.find((e) => e.kind === 'headers');
    assert.deepEqual(headers, { kind: 'headers', lines: ['X-Greylist: delayed 10 seconds'] });
  });
});
