/**
 * Hot reload end to end (issue 4): one real smtpd (E2E_SMTPD: 6.8 or 7.8) and one filter process for the
 * whole file, while the rules file and its list file are edited the ways editors and
 * deploy tools save files. Each change must reach the next session within a second or
 * two, through exactly one reload, with smtpd and the filter never restarted (their
 * pids are checked after every test).
 *
 * Nothing here sleeps for a fixed time to let a reload happen: the tests wait for the
 * reload's log line (counted, so a second, unwanted reload shows up too), then open a
 * session and look at what smtpd answered.
 *
 * Sessions in progress keeping their rules, paused sessions and greylisting state
 * across a reload: reload-sessions.test.ts.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { replyText } from './harness/dialog.js';
import { e2eSkipReason } from './harness/env.js';
import { exchangeFor, mailSteps, transcript } from './harness/mail.js';
import { Smtpd } from './harness/smtpd.js';
import type { FilterLogRecord } from './harness/smtpd.js';
import { waitFor } from './harness/wait.js';

const RULES = 'main.rules';
const LIST = 'blocked.list';

/** The rules under test, from a few knobs; each edit below changes one of them. */
interface Knobs {
  readonly pauseMs: number;
  readonly blockedReply: string;
  /** Extra steps appended to the chain, one per line. */
  readonly extra: readonly string[];
}

const START: Knobs = { pauseMs: 300, blockedReply: '550 5.7.1 sender blocked', extra: [] };

function rulesText(k: Knobs): string {
  return [
    '# test/e2e/reload.test.ts',
    `list blocked = file "${LIST}"`,
    'chain main =',
    `    pause ${k.pauseMs}ms`,
    `    then reject "${k.blockedReply}" when mail-from in blocked`,
    ...k.extra.map((s) => `    then ${s}`),
    '',
  ].join('\n');
}


/** The records of reload passes that did something the admin should see (not the debug "unchanged"). */
function reloads(smtpd: Smtpd): FilterLogRecord[] {
  return smtpd.filterRecords().filter((r) => r['event'] === 'reload' && r.level !== 'debug' && !(r.level === 'warn' && r['outcome'] === 'applied'));
}

const skip = e2eSkipReason();

describe('hot reload in real smtpd: edits reach the next session', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;
  let processes: { readonly smtpd: number; readonly filter: number };
  let knobs: Knobs = START;
  let rulesPath: string;
  let listPath: string;

  before(async () => {
    ({ smtpd, processes } = await Smtpd.startWithRules(RULES, { files: { [RULES]: rulesText(START), [LIST]: 'blocked@example.net\n' } }));
    rulesPath = join(smtpd.dir, RULES);
    listPath = join(smtpd.dir, LIST);
  });
  after(async () => {
    await smtpd?.stop();
  });
  // The same smtpd and the same filter process from the first test to the last.
  afterEach(() => {
    smtpd.assertSameProcesses(processes);
    assert.equal(smtpd.filterRecords().filter((r) => r.msg === 'filter-rules starting').length, 1, 'the filter started more than once');
  });

  /** Waits until there are `count` reload records; returns the newest. */
  async function reloadNumber(count: number, timeoutMs = 5000): Promise<FilterLogRecord> {
    return smtpd.withLog(() =>
      waitFor(() => reloads(smtpd)[count - 1], { timeoutMs, what: `reload log record #${count}`, explain: () => smtpd.logTail() }),
    );
  }

  /**
   * Saves `next` with `save`, waits for the one reload it causes, and checks it was
   * logged within 2 s of the save. Returns the reload record.
   */
  async function edit(next: Knobs, save: (path: string, text: string) => void | Promise<void>): Promise<FilterLogRecord> {
    const before = reloads(smtpd).length;
    const savedAt = Date.now();
    await save(rulesPath, rulesText(next));
    const record = await reloadNumber(before + 1);
    knobs = next;
    const lag = Date.parse(record.time) - savedAt;
    assert.ok(lag < 2000, `reload logged ${lag} ms after the save`);
    return record;
  }

  async function session(from: string, localAddress = '127.0.0.6'): Promise<{ bannerMs: number; mail: string; text: string }> {
    const r = await smtpd.dialog({ localAddress, steps: mailSteps({ helo: 'mail.example.net', from }) });
    const text = transcript(r);
    assert.equal(r.banner?.code, 220, text);
    return { bannerMs: r.banner.at, mail: replyText(exchangeFor(r, 'MAIL')?.reply), text };
  }

  test('the starting rules apply', async () => {
    const ok = await session('alice@example.net');
    assert.ok(ok.bannerMs >= START.pauseMs - 5, ok.text);
    assert.match(ok.mail, /^250 /, ok.text);
    const blocked = await session('blocked@example.net');
    assert.equal(blocked.mail, START.blockedReply, blocked.text);
  });

  test('a longer pause, saved in place: the next banner waits the new time; the log says what changed and how long compiling took', async () => {
    const record = await edit({ ...knobs, pauseMs: 1200 }, (path, text) => writeFileSync(path, text));
    assert.equal(record['outcome'], 'applied', JSON.stringify(record));
    assert.match(record.msg, /^rules reloaded \(change: .*main\.rules\) in [0-9.]+ ms: chain main: 1 step changed; new sessions use chain main$/);
    assert.equal(typeof record['compileMs'], 'number');
    const changed = record['chainsChanged'] as { stepsChanged: { before: string; after: string }[] }[];
    assert.deepEqual(
      changed.map((c) => c.stepsChanged.map((s) => `${s.before} -> ${s.after}`)),
      [['pause 300ms @connect -> pause 1200ms @connect']],
    );
    const s = await session('alice@example.net');
    assert.ok(s.bannerMs >= 1200 - 5, `banner after ${s.bannerMs} ms\n${s.text}`);
  });

  test('a reject rule added by write-temp-then-rename (vim, sed -i, Ansible): refused from the next session on', async () => {
    const record = await edit({ ...knobs, pauseMs: 200, extra: ['reject "550 5.7.1 no spam here" when mail-from ~ /^spam@/'] }, (path, text) => {
      writeFileSync(`${path}.tmp`, text);
      renameSync(`${path}.tmp`, path);
    });
    assert.match(record.msg, /chain main: 1 step added, 1 step changed/);
    const s = await session('spam@example.net');
    assert.equal(s.mail, '550 5.7.1 no spam here', s.text);
    assert.ok(s.bannerMs < 1200, `the old 1200 ms pause still applies: ${s.bannerMs} ms\n${s.text}`);
  });

  test('an invalid file: logged with file:line:col, the running rules stay, smtpd keeps serving', async () => {
    const before = reloads(smtpd).length;
    const broken = rulesText({ ...knobs, extra: [...knobs.extra, 'rejct "550 5.7.1 typo" when mail-from ~ /^x@/'] });
    writeFileSync(rulesPath, broken);
    const record = await reloadNumber(before + 1);
    assert.equal(record['outcome'], 'rejected', JSON.stringify(record));
    assert.equal(record.level, 'error');
    // `rejct` is on line 7, column 10 of the broken file; the record carries the
    // whole `check` output (code frame and did-you-mean included).
    assert.match(record.msg, /^rules reload failed \(change: .*\): 1 error, first: .*main\.rules:7:10: error\[E\d+\]: .*; the current rules stay in force$/);
    assert.match(String(record['diagnostics']), /main\.rules:7:10: error\[/);
    assert.match(String(record['diagnostics']), /did you mean "reject"/);
    // The rules from before the broken save still apply.
    const spam = await session('spam@example.net');
    assert.equal(spam.mail, '550 5.7.1 no spam here', spam.text);
    const ok = await session('alice@example.net');
    assert.match(ok.mail, /^250 /, ok.text);

    // Fixing the file reloads again.
    await edit({ ...knobs, pauseMs: 100 }, (path, text) => writeFileSync(path, text));
  });

  test('replaced by rename from a hidden temp file (rsync, config management): the new reply is used', async () => {
    await edit({ ...knobs, blockedReply: '550 5.7.1 blocked by the new rules' }, (path, text) => {
      const tmp = join(smtpd.dir, `.${RULES}.Xa81qz`);
      writeFileSync(tmp, text);
      renameSync(tmp, path);
    });
    const s = await session('blocked@example.net');
    assert.equal(s.mail, '550 5.7.1 blocked by the new rules', s.text);
  });

  test('a list file edited in place: the next session sees the new item; the log names the file', async () => {
    const before = reloads(smtpd).length;
    const savedAt = Date.now();
    writeFileSync(listPath, 'blocked@example.net\n# added later\nmallory@example.org\n');
    const record = await reloadNumber(before + 1);
    assert.ok(Date.parse(record.time) - savedAt < 2000);
    assert.equal(record['outcome'], 'applied', JSON.stringify(record));
    // No step changed (the condition reads the same); the changed file is named.
    assert.match(record.msg, /: no chain changed \(changed: blocked\.list\);/);
    const s = await session('mallory@example.org');
    assert.equal(s.mail, knobs.blockedReply, s.text);
  });

  test('a list file replaced by delete-then-create: one reload', async () => {
    const before = reloads(smtpd).length;
    unlinkSync(listPath);
    writeFileSync(listPath, 'mallory@example.org\n');
    await reloadNumber(before + 1);
    const s = await session('blocked@example.net');
    assert.match(s.mail, /^250 /, `blocked@ was taken off the list\n${s.text}`);
    const m = await session('mallory@example.org');
    assert.equal(m.mail, knobs.blockedReply, m.text);
  });

  test('every way of saving gives exactly one reload once the file is complete', async () => {
    const first = reloads(smtpd).length;
    const saves: [string, (path: string, text: string) => void | Promise<void>][] = [
      ['in place', (path, text) => writeFileSync(path, text)],
      [
        'in place, in chunks (a slow writer)',
        async (path, text) => {
          const fd = openSync(path, 'w');
          try {
            const half = Math.floor(text.length / 2);
            writeSync(fd, text.slice(0, half));
            // Shorter than the 200 ms quiet period: the half-written file must not be compiled.
            await delay(60);
            writeSync(fd, text.slice(half));
          } finally {
            closeSync(fd);
          }
        },
      ],
      [
        'temp file renamed over',
        (path, text) => {
          writeFileSync(`${path}.new`, text);
          renameSync(`${path}.new`, path);
        },
      ],
      [
        'delete, then create',
        (path, text) => {
          unlinkSync(path);
          writeFileSync(path, text);
        },
      ],
      [
        'vim with backup: rename away, write new, delete backup',
        (path, text) => {
          renameSync(path, `${path}~`);
          writeFileSync(path, text);
          unlinkSync(`${path}~`);
        },
      ],
    ];
    let pauseMs = 100;
    for (const [how, save] of saves) {
      pauseMs += 10;
      const record = await edit({ ...knobs, pauseMs }, save);
      assert.equal(record['outcome'], 'applied', `${how}: ${JSON.stringify(record)}`);
      assert.match(record.msg, new RegExp(`1 step changed`), how);
      const s = await session('alice@example.net');
      assert.ok(s.bannerMs >= pauseMs - 5, `${how}: banner after ${s.bannerMs} ms, pause is ${pauseMs} ms\n${s.text}`);
    }
    // A SIGHUP pass consumes any event still queued from those saves: after it, one
    // more reload by a save would have been logged already.
    process.kill(processes.filter, 'SIGHUP');
    const fence = await reloadNumber(first + saves.length + 1);
    assert.match(fence.msg, /^rules reloaded \(SIGHUP\) in [0-9.]+ ms: no changes;/);
    const passes = reloads(smtpd).slice(first);
    assert.deepEqual(
      passes.map((r) => `${String(r['outcome'])} ${String(r['reason']).replace(/:.*/, '')}`),
      [...saves.map(() => 'applied change'), 'applied SIGHUP'],
      passes.map((r) => r.msg).join('\n'),
    );
  });

  test('SIGHUP forces a reload, and the filter keeps serving', async () => {
    const before = reloads(smtpd).length;
    process.kill(processes.filter, 'SIGHUP');
    const record = await reloadNumber(before + 1);
    // A forced pass compiles and swaps even identical rules: what SIGHUP promises.
    assert.match(record.msg, /^rules reloaded \(SIGHUP\) in [0-9.]+ ms: no changes; new sessions use chain main$/);
    const s = await session('alice@example.net');
    assert.match(s.mail, /^250 /, s.text);
  });

  test('a reload adding a rule that needs data-line: applied, and the log says plainly that smtpd needs a restart', async () => {
    const before = smtpd.filterRecords().length;
    await edit({ ...knobs, extra: [...knobs.extra, 'postgrey unix:/nonexistent/postgrey.sock on-error proceed'] }, (path, text) =>
      writeFileSync(path, text),
    );
    const warn = await smtpd.withLog(() =>
      waitFor(
        () => smtpd.filterRecords().slice(before).find((r) => r['event'] === 'reload' && r.level === 'warn' && r['needsRestart'] === true),
        { timeoutMs: 5000, what: 'the restart warning' },
      ),
    );
    assert.match(warn.msg, /restart smtpd for that rule to take effect/);
    // Which rule: the W008 diagnostic, located.
    assert.match(String(warn['diagnostics']), /main\.rules:\d+:\d+: warning\[W008\]/);
    // The rule runs (its policy server is down: on-error proceed), without headers.
    const r = await smtpd.dialog({ localAddress: '127.0.0.6', steps: mailSteps({ helo: 'mail.example.net', from: 'alice@example.net' }) });
    assert.equal(exchangeFor(r, 'RCPT')?.reply?.code, 250, transcript(r));
  });

  test('after all that, smtpd and the filter are the ones that started', () => {
    // afterEach checks the pids; here the logs: no lost processor, one start, no restart.
    assert.doesNotMatch(smtpd.log(), /lost processor|exiting/i);
    const swapped = smtpd.filterRecords().filter((r) => r.msg === 'rules swapped; new sessions use them');
    assert.ok(swapped.length >= 10, `only ${swapped.length} swaps`);
  });
});
