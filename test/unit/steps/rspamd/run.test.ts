/**
 * The rspamd runner: what it does before asking (skip-authenticated,
 * skip-local, max-size with and without oversize-tempfail), what it makes
 * of a recorded answer from a local HTTP server playing rspamd (the reading:
 * edits, outcome, verdict), how it answers at commit from the reading, and
 * that a failure is thrown for the step's on-error.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MessageBuffer } from '../../../../src/message/buffer.js';
import type { MessageOutcome } from '../../../../src/model/message.js';
import { SessionScore } from '../../../../src/model/score.js';
import type { SessionFacts, StepOf } from '../../../../src/model/plan.js';
import type { MessageContext } from '../../../../src/model/runner.js';
import type { RspamdStepOptions } from '../../../../src/steps/rspamd/define.js';
import { createRspamdService, OVERSIZE_REPLY } from '../../../../src/steps/rspamd/run.js';
import { systemClock } from '../../../../src/support/clock.js';
import { silentLogger } from '../../../../src/support/log.js';
import { chain } from '../../runtime/helpers.js';

const FIXTURES = new URL('../../../../../test/fixtures/rspamd/', import.meta.url);

const OPTIONS: RspamdStepOptions = {
  url: 'http://127.0.0.1:9',
  timeoutMs: 5000,
  settingsId: null,
  maxSize: null,
  oversizeTempfail: false,
  skipAuthenticated: false,
  skipLocal: false,
  discard: { action: 'junk' },
  quarantine: { action: 'junk' },
};

function stepWith(options: Partial<RspamdStepOptions>): StepOf<'rspamd'> {
  const [step] = chain('c', [{ action: { kind: 'rspamd', options: { ...OPTIONS, ...options } }, phase: 'commit' }]).steps;
  assert.ok(step !== undefined && step.action.kind === 'rspamd');
  return step as StepOf<'rspamd'>;
}

const FACTS: SessionFacts = {
  sessionId: 's',
  src: '192.0.2.7',
  srcPort: 5000,
  dest: '192.0.2.1',
  destPort: 25,
  local: false,
  rdns: null,
  fcrdns: null,
  helo: 'mx.example.com',
  heloMethod: 'EHLO',
  mailFrom: 'a@example.com',
  rcptTo: null,
  recipients: ['b@example.org'],
  messageId: '0a0b0c0d',
  authUser: null,
  tls: null,
  size: 40,
};

function message(): MessageBuffer {
  const m = new MessageBuffer();
  for (const l of ['Subject: hi', '', 'body']) m.push(l);
  m.end();
  return m;
}

function ctx(facts: Partial<SessionFacts> = {}): MessageContext {
  return { facts: { ...FACTS, ...facts }, message: message(), clock: systemClock, signal: new AbortController().signal };
}

function runnerWith(options: Partial<RspamdStepOptions>) {
  const service = createRspamdService({ clock: systemClock, log: silentLogger, mtaName: 'mx1' });
  const step = stepWith(options);
  return { runner: service.factory(step), step, close: () => service.close() };
}

describe('rspamd runner', () => {
  test('skip-authenticated, skip-local and max-size skip without asking (the URL is a closed port)', async () => {
    assert.deepEqual((await runnerWith({ skipAuthenticated: true }).runner.readMessage?.(ctx({ authUser: 'bob' })))?.outcome, { type: 'continue', detail: { rspamd: 'skipped (authenticated)' } });
    assert.deepEqual((await runnerWith({ skipLocal: true }).runner.readMessage?.(ctx({ local: true, src: '' })))?.outcome, { type: 'continue', detail: { rspamd: 'skipped (local)' } });
    assert.deepEqual((await runnerWith({ maxSize: 10 }).runner.readMessage?.(ctx()))?.outcome, { type: 'continue', detail: { rspamd: 'skipped (oversize)' } });
    const over = await runnerWith({ maxSize: 10, oversizeTempfail: true }).runner.readMessage?.(ctx());
    assert.deepEqual(over?.outcome.type === 'decide' ? over.outcome.decision : null, { type: 'reject', reply: OVERSIZE_REPLY });
  });

  test('a recorded answer becomes the reading; at commit the step answers it; a failure throws', async () => {
    let headers: Record<string, unknown> = {};
    const server = createServer((req, res) => {
      headers = req.headers;
      req.resume();
      req.on('end', () => res.end(readFileSync(new URL('gtube-reject.json', FIXTURES))));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const { runner, step, close } = runnerWith({ url: `http://127.0.0.1:${port}`, settingsId: 'inbound' });
    const reading = await runner.readMessage?.(ctx());
    assert.ok(reading !== undefined);
    assert.equal(reading.rspamd?.action, 'reject');
    assert.equal(headers['settings-id'], 'inbound');
    assert.equal(headers['mta-name'], 'mx1');
    const readings = new Map<number, MessageOutcome>([[step.index, { ok: true, reading }]]);
    const commit = runner.run({ facts: { ...FACTS, messageReadings: readings }, phase: 'commit', request: 'commit', clock: systemClock, signal: new AbortController().signal });
    assert.deepEqual(commit, reading.outcome);
    assert.deepEqual(commit instanceof Promise ? null : commit.type === 'decide' ? commit.decision : null, { type: 'reject', reply: '550 5.7.1 Gtube pattern' });
    // rspamd's score joins the transaction's score, once, under "rspamd".
    const score = new SessionScore();
    const scored = { facts: { ...FACTS, messageReadings: readings, score }, phase: 'commit' as const, request: 'commit' as const, clock: systemClock, signal: new AbortController().signal };
    runner.run(scored);
    runner.run(scored);
    assert.equal(score.total(), reading.rspamd?.score);
    assert.deepEqual(score.parts().map((p) => p.label), ['rspamd']);
    await close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const down = runnerWith({ url: `http://127.0.0.1:${port}` });
    await assert.rejects(async () => down.runner.readMessage?.(ctx()), /rspamd/);
    const failed = new Map<number, MessageOutcome>([[step.index, { ok: false, error: 'rspamd did not answer within 5000 ms', timedOut: true }]]);
    assert.throws(
      () => runner.run({ facts: { ...FACTS, messageReadings: failed }, phase: 'commit', request: 'commit', clock: systemClock, signal: new AbortController().signal }),
      (e: unknown) => (e as { timedOut?: boolean }).timedOut === true,
    );
    await down.close();
  });
});
