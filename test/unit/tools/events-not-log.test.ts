/**
 * `test` and `replay` build their reports from the runtime's events, not
 * from its log (issue 11 stage 11b). Proof: the filter's log goes through a
 * wrapper that renames the `decision`, `dry-run` and `step failed` messages
 * and drops every field, and the reports come out the same — the tool
 * goldens byte for byte, and an online session with failures and dry-runs
 * equal to the one run with the plain log.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { loadRules } from '../../../src/cli/commands.js';
import { compileRulesSource } from '../../../src/dsl/index.js';
import type { StepOutcome } from '../../../src/model/runner.js';
import { PolicyError } from '../../../src/policy/errors.js';
import { selectChain } from '../../../src/model/select-chain.js';
import { stateless } from '../../../src/steps/service.js';
import { RecordingLogger, type LogFn, type Logger } from '../../../src/support/log.js';
import { parseTestArgs } from '../../../src/tools/args.js';
import { OFFLINE_EPOCH_MS } from '../../../src/tools/commands.js';
import { formatReplay, runReplay } from '../../../src/tools/replay.js';
import { DEFAULT_SESSION } from '../../../src/tools/synthetic-session.js';
import { formatTestReport } from '../../../src/tools/test/report.js';
import { runTestSession } from '../../../src/tools/test/simulate.js';
import { testServices } from '../runtime/helpers.js';

const ROOT = new URL('../../../../', import.meta.url);
const path = (rel: string): string => new URL(rel, ROOT).pathname;
const goldenText = (name: string): string => readFileSync(new URL(`test/golden/tools/${name}`, ROOT), 'utf8');

const RENAMED: Readonly<Record<string, string>> = { decision: 'verdict', 'dry-run': 'shadow step', 'step failed': 'step trouble' };

/** Forwards to `inner` with the messages the tools once read renamed and every field dropped. */
function rewording(inner: Logger): Logger {
  const wrap =
    (fn: LogFn): LogFn =>
    (_obj, msg) =>
      fn({}, msg === undefined ? undefined : (RENAMED[msg] ?? msg));
  return { debug: wrap(inner.debug), info: wrap(inner.info), warn: wrap(inner.warn), error: wrap(inner.error), child: () => rewording(inner) };
}

function reworded(): { readonly log: Logger; readonly seen: RecordingLogger } {
  const seen = new RecordingLogger();
  return { log: rewording(seen), seen };
}

const renamedSeen = (seen: RecordingLogger): Set<string> =>
  new Set(seen.records.map((r) => r.msg ?? '').filter((m) => Object.values(RENAMED).includes(m)));

async function testCommand(argv: string[], log: Logger): Promise<string> {
  const cmd = parseTestArgs(argv);
  if (!cmd.ok) assert.fail(cmd.error);
  const loaded = loadRules(path(cmd.value.rulesFile), cmd.value.chain);
  if (!loaded.ok) assert.fail(loaded.messages.join('\n'));
  const report = await runTestSession(loaded, cmd.value.session, { mode: 'offline', startWallMs: OFFLINE_EPOCH_MS, log });
  return formatTestReport({ ...report, rulesFile: cmd.value.rulesFile }, loaded.sources);
}

describe('the tools read events, not the log', () => {
  test('test: the goldens come out the same with the log reworded', async () => {
    const dryRun = reworded();
    const shadow = await testCommand(['test/fixtures/tools/dry-run.rules', '--no-rdns', '--helo', '192.0.2.1', '--offline'], dryRun.log);
    assert.equal(shadow, goldenText('test-dry-run.txt'));
    assert.deepEqual(renamedSeen(dryRun.seen), new Set(['shadow step']));
    const bulk = reworded();
    const refused = await testCommand(['rules/example-antispam.rules', '--mail-from', 'bulk@example.org', '--rcpt-to', 'a@example.com', '--rcpt-to', 'b@example.com', '--offline'], bulk.log);
    assert.equal(refused, goldenText('test-antispam-bulk.txt'));
    assert.deepEqual(renamedSeen(bulk.seen), new Set(['verdict']));
  });

  test('replay: the probe’s listing over every recording comes out the same with the log reworded', async () => {
    const expected = goldenText('replay-probe.txt');
    const loaded = loadRules(path('test/fixtures/tools/probe.rules'), null);
    if (!loaded.ok) assert.fail(loaded.messages.join('\n'));
    const dir = new URL('test/fixtures/transcripts/smtpd-6.8/', ROOT);
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.txt') && !f.includes('.client.'))
      .sort()
      .map((name) => ({ name, data: readFileSync(new URL(name, dir)) }));
    const { log, seen } = reworded();
    const report = await runReplay(loaded, files, { mode: 'offline', startWallMs: OFFLINE_EPOCH_MS, log });
    // The header is the command's (commands.ts): taken from the golden, the rest is the listing.
    const header = (expected.split('\n')[0] ?? '').replace(/^# /, '');
    assert.equal(formatReplay(report, header), expected);
    assert.ok(renamedSeen(seen).has('verdict') && renamedSeen(seen).has('shadow step'), [...renamedSeen(seen)].join(', '));
  });

  test('online, with failures, deferrals and dry-runs: the same report and listing with the log reworded', async () => {
    const source = [
      'chain a =',
      '  policy unix:/run/p.sock timeout 1s on-error proceed',
      '  then dry-run postgrey unix:/run/p.sock',
      '  then reject "550 5.7.1 no" when rcpt-to ~ /^deny@/',
      '',
    ].join('\n');
    const compiled = compileRulesSource(source, 'x.rules', { readFile: () => '' });
    if (!compiled.ok) assert.fail(compiled.diagnostics.map((d) => d.message).join('; '));
    const chain = selectChain(compiled.rules, null);
    if (!chain.ok) assert.fail(chain.error);
    const loaded = { rules: compiled.rules, chain: chain.value, sources: compiled.sources };
    const answer = async (rcpt: string | null): Promise<StepOutcome> => {
      if (rcpt === 'down@example.com') throw new PolicyError('connect', 'unix:/run/p.sock', 'refused');
      if (rcpt === 'grey@example.com') return { type: 'arm', deferral: { when: 'if-permit', reply: '450 4.7.1 greylisted' }, detail: { answer: 'DEFER_IF_PERMIT greylisted' } };
      return { type: 'continue', detail: { answer: 'DUNNO' } };
    };
    const services = () => testServices({ policy: stateless((step) => ({ step, run: (ctx) => answer(ctx.facts.rcptTo) })) });
    const session = { ...DEFAULT_SESSION, rcptTo: ['down@example.com', 'grey@example.com', 'deny@example.com', 'ok@example.com'] };
    // Real milliseconds vary from run to run: not what this compares.
    const steady = (text: string): string => text.replace(/\d+ ms/g, 'N ms');
    const report = async (log: Logger): Promise<string> =>
      steady(formatTestReport(await runTestSession(loaded, session, { mode: 'online', startWallMs: 0, services: services(), log }), loaded.sources));
    const plain = await report(new RecordingLogger());
    const { log, seen } = reworded();
    assert.equal(await report(log), plain);
    assert.deepEqual(renamedSeen(seen), new Set(['verdict', 'shadow step', 'step trouble']));
    assert.match(plain, /policy failed after N ms \(policy server unix:\/run\/p\.sock: refused\), on-error proceed/);
    assert.match(plain, /dry-run: would defer-if-permit 450 4\.7\.1 greylisted \(answer: DEFER_IF_PERMIT greylisted\)/);
    assert.match(plain, /reject 450 4\.7\.1 greylisted/);

    const data = readFileSync(new URL('test/fixtures/transcripts/smtpd-6.8/02-helo-two-rcpts.txt', ROOT));
    const listing = async (l: Logger): Promise<string> =>
      formatReplay(await runReplay(loaded, [{ name: '02.txt', data }], { mode: 'online', startWallMs: 0, services: services(), log: l }), 'h');
    assert.equal(await listing(reworded().log), await listing(new RecordingLogger()));
  });
});
