/**
 * The built CLI end to end: run the filter with --record as smtpd would
 * (lines fed one request at a time, each answer awaited), replay the record
 * file, and get the same decisions. Then the `replay` and `test` commands
 * themselves, spawned.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRules } from '../../../src/cli/commands.js';
import { runReplay } from '../../../src/tools/replay.js';
import { replyOf } from '../../../src/model/decision.js';
import { parseOutputLine } from '../../../src/protocol/lines.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const TRANSCRIPTS = new URL('../../../../test/fixtures/transcripts/smtpd-6.8/', import.meta.url);
const HANDSHAKE = ['config|smtpd-version|6.8.0p2', 'config|smtp-session-timeout|300', 'config|subsystem|smtp-in', 'config|admd|vm', 'config|ready'];

const dir = mkdtempSync(join(tmpdir(), 'filter-rules-record-replay-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const RULES = join(dir, 'live.rules');
writeFileSync(
  RULES,
  [
    'chain live =',
    '    pause 100ms',
    '    then reject "451 4.7.1 Greylisted, try again later" when rcpt-to in { grey@localhost }',
    '    then reject "550 5.7.1 Recipient refused by rules" when rcpt-to in { deny@localhost }',
    '    then disconnect "421 4.7.0 Closing connection" when rcpt-to in { bye@localhost }',
    '    then junk when mail-from in { junk@example.net }',
    '    then dry-run reject "550 5.7.1 we would refuse this HELO" when helo in { rewrite.me }',
    '',
  ].join('\n'),
);

/** The `> ` lines of some recordings, in order. */
function inputs(...names: string[]): string[] {
  return names.flatMap((n) =>
    readFileSync(new URL(n, TRANSCRIPTS), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('> '))
      .map((l) => l.slice(2)),
  );
}

/** Talk to the filter like smtpd: after each filter request, wait for its answer (or its data-line echo). */
async function converse(child: ChildProcessWithoutNullStreams, lines: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  let partial = '';
  let waiter: (() => void) | null = null;
  child.stdout.on('data', (c: Buffer) => {
    const parts = (partial + c.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    out.push(...parts);
    waiter?.();
  });
  const until = (done: () => boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer; got so far:\n${out.join('\n')}`)), 10_000);
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        waiter = null;
        resolve();
      };
      waiter = check;
      check();
    });
  for (const l of HANDSHAKE) child.stdin.write(`${l}\n`);
  await until(() => out.includes('register|ready'));
  for (const l of lines) {
    const before = out.length;
    child.stdin.write(`${l}\n`);
    const m = /^filter\|[^|]*\|[^|]*\|smtp-in\|([^|]+)\|([0-9a-f]+)\|([0-9a-f]+)\|/.exec(l);
    if (m === null) continue;
    const prefix = m[1] === 'data-line' ? `filter-dataline|${m[2]}|${m[3]}|` : `filter-result|${m[2]}|${m[3]}|`;
    await until(() => out.slice(before).some((o) => o.startsWith(prefix)));
  }
  return out;
}

function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => child.on('close', (code) => resolve(code)));
}

describe('--record, then replay (spawned CLI)', () => {
  test('replaying what the running filter recorded gives the decisions it sent', async () => {
    const record = join(dir, 'smtpd.rec');
    const child = spawn(process.execPath, [MAIN, '--record', record, RULES], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const out = await converse(child, inputs('01-delivery.txt', '02-helo-two-rcpts.txt', '06-disconnect-decision.txt', '07-junk.txt', '08-rset-two-tx.txt'));
    child.stdin.end();
    assert.equal(await exited(child), 0, stderr);
    assert.match(stderr, /recording the conversation with smtpd/);

    // What the live filter answered, per session, in order.
    const live = new Map<string, string[]>();
    for (const written of out.map(parseOutputLine)) {
      if (!written.ok || written.value.kind !== 'filter-result') continue;
      const { sessionId, decision } = written.value;
      const said = replyOf(decision);
      live.set(sessionId, [...(live.get(sessionId) ?? []), said === null ? decision.type : `${decision.type} ${said}`]);
    }
    assert.ok([...live.values()].flat().includes('reject 550 5.7.1 Recipient refused by rules'), 'the rules decided something');

    // The record file has every line both ways.
    const recorded = readFileSync(record, 'utf8').split('\n');
    assert.match(recorded[0] ?? '', /^# filter-rules .* recording started /);
    assert.equal(recorded.filter((l) => l.startsWith('< ')).length, out.filter((l) => l !== '').length);

    const loaded = loadRules(RULES, null);
    assert.ok(loaded.ok);
    const report = await runReplay(loaded, [{ name: 'smtpd.rec', data: readFileSync(record) }], { mode: 'offline', startWallMs: 0 });
    assert.equal(report.unanswered, 0);
    const replayed = new Map(
      report.sessions.map((s) => [s.id, s.events.flatMap((e) => (e.kind === 'answer' ? [e.answer.replace(/ \(accept\)$/, '')] : []))]),
    );
    assert.deepEqual(replayed, live);
    const dry = report.sessions.flatMap((s) => s.events).filter((e) => e.kind === 'dry-run');
    assert.deepEqual(
      dry.map((e) => e.kind === 'dry-run' && e.text),
      ['would reject 550 5.7.1 we would refuse this HELO'],
    );

    // The same through the command line: write the expectation, then check against it.
    const expect = join(dir, 'smtpd.expect');
    const write = spawnSync(process.execPath, [MAIN, 'replay', '--expect', expect, '--update-expect', RULES, record], { encoding: 'utf8' });
    assert.equal(write.status, 0, write.stderr);
    const check = spawnSync(process.execPath, [MAIN, 'replay', '--expect', expect, RULES, record], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /decisions as expected \(5 session\(s\)/);
  });

  test('an unwritable record file: logged, and the filter works as usual', async () => {
    const child = spawn(process.execPath, [MAIN, '--record', join(dir, 'missing', 'dir', 'x.rec'), RULES], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const out = await converse(child, inputs('07-junk.txt'));
    child.stdin.end();
    assert.equal(await exited(child), 0);
    assert.ok(out.some((l) => l.endsWith('|junk')));
    assert.match(stderr, /cannot open the record file; not recording \(the filter runs on\)/);
  });
});

describe('filter-rules test and replay (spawned CLI)', () => {
  test('test prints the table and exits 0; bad rules exit 1 with the diagnostics', () => {
    const r = spawnSync(process.execPath, [MAIN, 'test', '--offline', '--helo', '[192.0.2.1]', RULES], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^PHASE +STEP +CONDITION +RESULT$/m);
    assert.match(r.stdout, /^connect +live\.rules:2 pause 100ms +\(none\) +pause 100ms \(not waited\)$/m);
    const bad = join(dir, 'bad.rules');
    writeFileSync(bad, 'chain a = rejct "550 5.7.1 x"\n');
    const b = spawnSync(process.execPath, [MAIN, 'test', bad], { encoding: 'utf8' });
    assert.equal(b.status, 1);
    assert.match(b.stderr, /bad\.rules:1:11: error\[E004\]/);
  });

  test('a long listing reaches the end of a shell pipe before the command exits', () => {
    const one = readFileSync(new URL('02-helo-two-rcpts.txt', TRANSCRIPTS), 'utf8');
    const many = Array.from({ length: 2000 }, (_, i) => one.replaceAll('3689fe63286ed757', (0x3689fe6300000000n + BigInt(i)).toString(16))).join('');
    const big = join(dir, 'big.txt');
    writeFileSync(big, many);
    // `| cat`: a real pipe (64 KiB), as when an admin pipes the listing into less or grep.
    const r = spawnSync('/bin/sh', ['-c', '"$0" "$1" replay "$2" "$3" | cat', process.execPath, MAIN, RULES, big], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.length > 1024 * 1024, `${r.stdout.length} bytes`);
    assert.match(r.stdout, /\n# 2000 session\(s\), 16000 request\(s\): [^\n]*\n$/);
  });

  test('usage mistakes exit 2 with the usage', () => {
    const r = spawnSync(process.execPath, [MAIN, 'replay', RULES], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /missing TRANSCRIPT/);
    assert.match(r.stderr, /filter-rules replay \[--chain NAME\]/);
  });
});
