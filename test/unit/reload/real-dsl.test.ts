/**
 * The reloader with the real rules compiler (src/dsl) over an in-memory file
 * system: what an admin sees in the log for the usual edits.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRulesFile } from '../../../src/dsl/index.js';
import type { CompiledChain } from '../../../src/model/plan.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger, type LogRecord } from '../../../src/support/log.js';
import { startReloader } from '../../../src/reload/reloader.js';
import { selectChain } from '../../../src/model/select-chain.js';
import { fakeWatcherFactory, flush, MemoryFs } from './helpers.js';

const RULES = '/etc/mail/antispam.rules';
const PARTNERS = '/etc/mail/partners.list';

const BASE = `list trusted = { 127.0.0.0/8, ::1 }
list partners = file "partners.list"

chain antispam =
    accept when src in trusted or src in partners
    then pause 3s
    then reject "550 5.7.1 bare IP address in HELO" when helo ~ /^\\[?[0-9.]+\\]?$/
`;

async function setup(dataLineRegistered = true) {
  const fs = new MemoryFs();
  fs.write(RULES, BASE);
  fs.write(PARTNERS, '198.51.100.7\n');
  const initial = compileRulesFile(RULES, { readFile: fs.readFileSync, dataLineRegistered });
  assert.ok(initial.ok, initial.ok ? '' : JSON.stringify(initial.diagnostics));
  const clock = new FakeClock();
  const log = new RecordingLogger();
  const watchers = fakeWatcherFactory();
  const applied: CompiledChain[] = [];
  const reloader = startReloader({
    rulesFile: RULES,
    initialRules: initial.rules,
    initialSources: initial.sources,
    compile: compileRulesFile,
    apply: (_rules, chain) => applied.push(chain),
    selectChain: (rules) => selectChain(rules, 'antispam'),
    clock,
    log,
    watcherFactory: watchers.factory,
    readFile: fs.readFile,
    dataLineRegistered,
  });
  await reloader.whenIdle();
  const watcher = watchers.get();
  const edit = async (path: string, text: string): Promise<void> => {
    fs.write(path, text);
    watcher.emit(path);
    clock.advance(250);
    await flush();
    await reloader.whenIdle();
  };
  const last = (outcome: string): LogRecord | undefined =>
    log.records.filter((r) => r.fields['event'] === 'reload' && r.fields['outcome'] === outcome).at(-1);
  return { fs, log, clock, watcher, applied, reloader, edit, last };
}

describe('reload with the real compiler', () => {
  test('watches the rules file and its list file', async () => {
    const h = await setup();
    assert.deepEqual(h.watcher.paths, [RULES, PARTNERS].sort());
    // The startup texts match the disk: nothing to reload.
    h.clock.advance(10_000);
    await flush();
    await h.reloader.whenIdle();
    assert.equal(h.reloader.stats.passes, 0);
  });

  test('an edited and an added step are named in the log', async () => {
    const h = await setup();
    await h.edit(RULES, BASE.replace('pause 3s', 'pause 5s') + '    then junk when rdns ~ /dynamic/\n');
    assert.equal(h.applied.length, 1);
    const record = h.last('applied');
    assert.match(record?.msg ?? '', /chain antispam: 1 step added, 1 step changed; new sessions use chain antispam$/);
    assert.deepEqual(record?.fields['chainsChanged'], [
      {
        name: 'antispam',
        stepsAdded: [{ index: 3, text: 'junk @connect when rdns ~ /dynamic/' }],
        stepsRemoved: [],
        stepsChanged: [{ index: 1, before: 'pause 3000ms @connect', after: 'pause 5000ms @connect', fields: ['action'] }],
        stepsMoved: [],
      },
    ]);
  });

  test('comments and blank lines move every span but change nothing', async () => {
    const h = await setup();
    await h.edit(RULES, `# reviewed 2026-11\n\n${BASE.replace('chain antispam =', '# the inbound chain\nchain antispam =')}`);
    assert.equal(h.applied.length, 1, 'the file changed, so the rules are swapped');
    assert.match(h.last('applied')?.msg ?? '', /: no chain changed \(changed: antispam\.rules\); new sessions use chain antispam$/);
  });

  test('a list file edit reloads and names the file', async () => {
    const h = await setup();
    await h.edit(PARTNERS, '198.51.100.7\n203.0.113.9\n');
    assert.equal(h.applied.length, 1);
    assert.deepEqual(h.last('applied')?.fields['filesChanged'], [PARTNERS]);
    assert.match(h.last('applied')?.msg ?? '', /no chain changed \(changed: partners\.list\)/);
  });

  test('a typo: the running rules stay, the log has the check output with code frame and hint', async () => {
    const h = await setup();
    await h.edit(RULES, BASE + '    then disconnect "421 4.7.0 go away" when mail_from ~ /^bulk@/\n');
    assert.equal(h.applied.length, 0);
    const record = h.last('rejected');
    assert.equal(record?.level, 'error');
    assert.equal(record?.fields['errors'], 1);
    const text = String(record?.fields['diagnostics']);
    assert.match(text, /^\/etc\/mail\/antispam\.rules:8:\d+: error\[E\d+\]: .*"mail_from"/);
    assert.match(text, /\n8 \|     then disconnect "421 4\.7\.0 go away" when mail_from ~ \/\^bulk@\/\n/);
    assert.match(text, /\^\^\^\^\^\^\^\^\^/);
    assert.match(text, /hint: did you mean "mail-from"\?/);
    assert.match(record?.msg ?? '', /1 error, first: \/etc\/mail\/antispam\.rules:8:\d+: error\[E\d+\]/);
  });

  test('a rule needing data-line when it was not registered: applied, W008 at warn level', async () => {
    const h = await setup(false);
    await h.edit(RULES, BASE + '    then postgrey unix:/run/postgrey/postgrey.sock\n');
    assert.equal(h.applied.length, 1);
    const warn = h.log.records.find((r) => r.level === 'warn' && r.fields['event'] === 'reload');
    assert.ok(warn, 'a warn record');
    assert.equal(warn.fields['needsRestart'], true);
    assert.match(String(warn.fields['diagnostics']), /warning\[W008\]/);
    assert.match(warn.msg ?? '', /restart smtpd/);
  });

  test('the running chain renamed: refused', async () => {
    const h = await setup();
    await h.edit(RULES, BASE.replace('chain antispam', 'chain inbound'));
    assert.equal(h.applied.length, 0);
    assert.match(h.last('refused')?.msg ?? '', /"antispam".*the current rules stay in force$/);
  });

  test('a new list file named before it exists: rejected, then applied when it appears', async () => {
    const h = await setup();
    const next = `list blocked = file "blocked.list"\n${BASE}    then reject "550 5.7.1 blocked" when src in blocked\n`;
    await h.edit(RULES, next);
    assert.equal(h.applied.length, 0);
    assert.match(String(h.last('rejected')?.fields['diagnostics']), /cannot read list file "\/etc\/mail\/blocked\.list"/);
    assert.ok(h.watcher.paths.includes('/etc/mail/blocked.list'), 'watched although the compile failed');
    await h.edit('/etc/mail/blocked.list', '192.0.2.66\n');
    assert.equal(h.applied.length, 1);
    assert.deepEqual(h.watcher.paths, ['/etc/mail/antispam.rules', '/etc/mail/blocked.list', PARTNERS]);
  });
});
