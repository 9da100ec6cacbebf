import { describe, test } from 'node:test';
import { describeStep } from '../../../src/model/describe.js';
import { diffRules, isEmptyDiff } from '../../../src/reload/diff.js';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { compileRulesFile, compileRulesSource } from '../../../src/dsl/index.js';
import { compile, compileOk, facts, memoryFiles, onlyChain } from './helpers.js';

const EXAMPLE = `
list trusted = { 127.0.0.0/8, ::1, 192.0.2.0/24 }

chain antispam =
    accept when src in trusted
    then pause 3s
    then reject "550 5.7.1 bare IP address in HELO" when helo ~ /^\\[?[0-9.]+\\]?$/
    then disconnect "421 4.7.0 go away" when mail-from ~ /^bulk@/
    then junk when rdns ~ /(dsl|dynamic|pool)[.-]/
`;

describe('compiler', () => {
  test('the issue example: phases inferred, steps grouped by phase in chain order', () => {
    const chain = onlyChain(compileOk(EXAMPLE));
    assert.equal(chain.name, 'antispam');
    assert.deepEqual(
      chain.steps.map((s) => [s.index, s.action.kind, s.phase]),
      [
        [0, 'accept', 'connect'],
        [1, 'pause', 'connect'],
        [2, 'reject', 'helo'],
        [3, 'disconnect', 'mail-from'],
        [4, 'junk', 'connect'],
      ],
    );
    assert.deepEqual([...chain.stepsByPhase.keys()], ['connect', 'helo', 'mail-from']);
    assert.deepEqual(
      chain.stepsByPhase.get('connect')?.map((s) => s.index),
      [0, 1, 4],
    );
    assert.equal(chain.stepsByPhase.has('rcpt-to'), false);
  });

  test('actions carry their values; whenText is the condition as written canonically', () => {
    const chain = onlyChain(compileOk(EXAMPLE));
    assert.deepEqual(chain.steps[1]?.action, { kind: 'pause', durationMs: 3000 });
    assert.deepEqual(chain.steps[2]?.action, { kind: 'reject', reply: '550 5.7.1 bare IP address in HELO' });
    assert.deepEqual(chain.steps[3]?.action, { kind: 'disconnect', reply: '421 4.7.0 go away' });
    assert.equal(chain.steps[0]?.whenText, 'src in trusted');
    assert.equal(chain.steps[1]?.when, null);
    assert.equal(chain.steps[1]?.whenText, null);
    assert.equal(chain.steps[2]?.whenText, 'helo ~ /^\\[?[0-9.]+\\]?$/');
    assert.deepEqual(
      chain.steps.map((s) => s.onError),
      ['tempfail', 'tempfail', 'tempfail', 'tempfail', 'tempfail'],
    );
  });

  test('step spans run from the action through its options', () => {
    const chain = onlyChain(compileOk('chain c =\n  pause 3s\n  then junk\n    when rdns'));
    assert.deepEqual(chain.steps[1]?.span, { file: 'test.rules', line: 3, column: 8, endLine: 4, endColumn: 14 });
    assert.deepEqual(chain.span, { file: 'test.rules', line: 1, column: 1, endLine: 4, endColumn: 14 });
  });

  test('durations in every unit', () => {
    const chain = onlyChain(compileOk('chain c = pause 500ms then pause 3s then pause 5m at helo'));
    assert.deepEqual(
      chain.steps.map((s) => (s.action.kind === 'pause' ? s.action.durationMs : -1)),
      [500, 3000, 300_000],
    );
  });

  test('`at` moves a step later; conditions decide the earliest phase', () => {
    const chain = onlyChain(
      compileOk('chain c = pause 1s at data then junk when rcpt-to in { a@example.com } then accept when src in { 10.0.0.0/8 } at mail-from then pause 1s when helo ~ /x/ at commit'),
    );
    assert.deepEqual(
      chain.steps.map((s) => s.phase),
      ['data', 'rcpt-to', 'mail-from', 'commit'],
    );
  });

  test('reject at connect is compiled as disconnect (with a warning)', () => {
    const r = compile('chain c = reject "550 5.7.1 no" when src in { 192.0.2.0/24 }');
    assert.ok(r.ok);
    assert.deepEqual(onlyChain(r.rules).steps[0]?.action, { kind: 'disconnect', reply: '550 5.7.1 no' });
    assert.deepEqual(
      r.warnings.map((w) => w.code),
      ['W005'],
    );
    const atHelo = onlyChain(compileOk('chain c = reject "550 5.7.1 no" at helo')).steps[0];
    assert.deepEqual(atHelo?.action, { kind: 'reject', reply: '550 5.7.1 no' });
  });

  test('a | in a reply is kept: it is the last field of filter-result', () => {
    const chain = onlyChain(compileOk('chain c = reject "550 5.7.1 a|b" at helo'));
    assert.deepEqual(chain.steps[0]?.action, { kind: 'reject', reply: '550 5.7.1 a|b' });
  });

  test('postgrey and policy: address forms, default timeout 2s, default phase rcpt-to', () => {
    const chain = onlyChain(
      compileOk(
        'chain c = postgrey unix:/run/postgrey/postgrey.sock then policy tcp:[::1]:10023 timeout 500ms on-error proceed at data then postgrey "tcp:localhost:10023" at mail-from',
      ),
    );
    assert.deepEqual(chain.steps[0]?.action, { kind: 'policy', options: { flavor: 'postgrey', address: { kind: 'unix', path: '/run/postgrey/postgrey.sock' }, timeoutMs: 2000 } });
    assert.equal(chain.steps[0]?.phase, 'rcpt-to');
    assert.deepEqual(chain.steps[1]?.action, { kind: 'policy', options: { flavor: 'policy', address: { kind: 'tcp', host: '::1', port: 10023 }, timeoutMs: 500 } });
    assert.equal(chain.steps[1]?.phase, 'data');
    assert.equal(chain.steps[1]?.onError, 'proceed');
    assert.deepEqual(chain.steps[2]?.action, { kind: 'policy', options: { flavor: 'postgrey', address: { kind: 'tcp', host: 'localhost', port: 10023 }, timeoutMs: 2000 } });
    assert.equal(chain.steps[2]?.phase, 'mail-from');
  });

  test("inet:HOST:PORT (Postfix's spelling) is tcp:HOST:PORT: the same plan, described as tcp:", () => {
    for (const [inet, tcp] of [
      ['policy inet:127.0.0.1:10023', 'policy tcp:127.0.0.1:10023'],
      ['postgrey inet:[::1]:10023 timeout 500ms at mail-from', 'postgrey tcp:[::1]:10023 timeout 500ms at mail-from'],
      ['policy "inet:localhost:10023"', 'policy "tcp:localhost:10023"'],
    ] as const) {
      const a = onlyChain(compileOk(`chain c = ${inet}`));
      const b = onlyChain(compileOk(`chain c = ${tcp}`));
      assert.deepEqual(
        a.steps.map((s) => [s.action, s.phase, s.onError]),
        b.steps.map((s) => [s.action, s.phase, s.onError]),
        inet,
      );
      assert.ok(isEmptyDiff(diffRules(compileOk(`chain c = ${inet}`), compileOk(`chain c = ${tcp}`))), `${inet}: a reload between the two changes nothing`);
      assert.deepEqual(a.steps.map(describeStep), b.steps.map(describeStep));
      assert.match(describeStep(a.steps[0]!), / tcp:/);
    }
  });

  test('greylist: defaults, and every option', () => {
    const chain = onlyChain(
      compileOk(
        'chain c = greylist then greylist delay 1m max-age 7d retry-window 1d auto-whitelist 0 ipv4-prefix 32 ipv6-prefix 48 store "redis://127.0.0.1:6379/3" header on-error proceed',
      ),
    );
    assert.deepEqual(chain.steps[0]?.action, {
      kind: 'greylist',
      options: {
        delayMs: 300_000,
        maxAgeMs: 35 * 86_400_000,
        retryWindowMs: 2 * 86_400_000,
        autoWhitelistAfter: 5,
        ipv4Prefix: 24,
        ipv6Prefix: 64,
        store: 'sqlite:/var/lib/filter-rules/greylist.db',
        header: false,
      },
    });
    assert.deepEqual(chain.steps[1]?.action, {
      kind: 'greylist',
      options: {
        delayMs: 60_000,
        maxAgeMs: 7 * 86_400_000,
        retryWindowMs: 86_400_000,
        autoWhitelistAfter: 0,
        ipv4Prefix: 32,
        ipv6Prefix: 48,
        store: 'redis://127.0.0.1:6379/3',
        header: true,
      },
    });
    assert.equal(chain.steps[1]?.onError, 'proceed');
    assert.equal(chain.steps[0]?.phase, 'rcpt-to');
  });

  test('needsDataLine: postgrey/policy steps and greylist header', () => {
    assert.equal(compileOk('chain c = pause 1s then junk when rdns').needsDataLine, false);
    assert.equal(compileOk('chain c = greylist').needsDataLine, false);
    assert.equal(compileOk('chain c = greylist header').needsDataLine, true);
    assert.equal(compileOk('chain c = postgrey unix:/run/postgrey.sock').needsDataLine, true);
    assert.equal(compileOk('chain a = pause 1s\nchain b = policy tcp:127.0.0.1:10023').needsDataLine, true);
  });

  test('data-line not registered: the rules compile, with a restart warning', () => {
    const r = compile('chain c = postgrey unix:/run/postgrey.sock', { dataLineRegistered: false });
    assert.ok(r.ok);
    assert.equal(r.rules.needsDataLine, true);
    assert.deepEqual(
      r.warnings.map((w) => w.code),
      ['W008'],
    );
    assert.match(r.warnings[0]?.message ?? '', /data-line/);
    assert.match(r.warnings[0]?.hint ?? '', /restart smtpd/);
    const registered = compile('chain c = postgrey unix:/run/postgrey.sock', { dataLineRegistered: true });
    assert.ok(registered.ok);
    assert.deepEqual(registered.warnings, []);
    const noHeaders = compile('chain c = greylist', { dataLineRegistered: false });
    assert.ok(noHeaders.ok);
    assert.deepEqual(noHeaders.warnings, []);
  });

  test('several chains in one file', () => {
    const rules = compileOk('chain port25 = pause 3s\nchain port587 = accept');
    assert.deepEqual([...rules.chains.keys()], ['port25', 'port587']);
  });

  test('files: the rules file and each list file, absolute, for watching', () => {
    const readFile = memoryFiles({ '/etc/filter-rules/main.rules': 'list a = file "a.txt"\nlist b = file "/srv/b.txt"\nchain c = accept when src in a or rdns in b', '/etc/filter-rules/a.txt': '10.0.0.0/8\n', '/srv/b.txt': 'example.com\n' });
    const r = compileRulesFile('/etc/filter-rules/main.rules', { readFile });
    assert.ok(r.ok);
    assert.deepEqual(r.rules.files, ['/etc/filter-rules/main.rules', '/etc/filter-rules/a.txt', '/srv/b.txt']);
    assert.deepEqual(r.files, r.rules.files);
    assert.equal(r.sources.get('/etc/filter-rules/a.txt'), '10.0.0.0/8\n');
  });

  test('relative rules paths become absolute in files; list paths resolve against the rules file', () => {
    const readFile = memoryFiles({ 'conf/x.rules': 'list a = file "lists/a.txt"\nchain c = accept when src in a', 'conf/lists/a.txt': '10.0.0.1\n' });
    const r = compileRulesFile('conf/x.rules', { readFile });
    assert.ok(r.ok);
    assert.deepEqual(r.rules.files, [resolve('conf/x.rules'), resolve('conf/lists/a.txt')]);
  });

  test('an unreadable list file is an error at the path string, with the errno text; it is still watched', () => {
    const r = compileRulesSource('list a = file "missing.txt"\nchain c = accept when src in a', '/etc/x.rules', { readFile: memoryFiles({}) });
    assert.ok(!r.ok);
    const d = r.diagnostics[0];
    assert.equal(d?.code, 'E013');
    assert.deepEqual([d?.span.line, d?.span.column, d?.span.endColumn], [1, 15, 28]);
    assert.match(d?.message ?? '', /no such file or directory \(ENOENT\)/);
    assert.deepEqual(r.files, ['/etc/x.rules', '/etc/missing.txt']);
  });

  test('an unreadable rules file is a diagnostic, not an exception', () => {
    const r = compileRulesFile('/nope/x.rules', { readFile: memoryFiles({}) });
    assert.ok(!r.ok);
    assert.equal(r.diagnostics[0]?.code, 'E008');
  });

  test('items of a list file are checked with locations in that file', () => {
    const r = compileRulesSource('list a = file "a.txt"\nchain c = accept when src in a', '/etc/x.rules', { readFile: memoryFiles({ '/etc/a.txt': '10.0.0.1\n\n  mail.example.com # oops\n' }) });
    assert.ok(!r.ok);
    const d = r.diagnostics[0];
    assert.equal(d?.code, 'E015');
    assert.deepEqual([d?.span.file, d?.span.line, d?.span.column], ['/etc/a.txt', 3, 3]);
  });

  test('a byte-order mark at the start is ignored', () => {
    compileOk('\uFEFFchain c = pause 1s');
  });

  test('compiled rules are frozen', () => {
    const rules = compileOk(EXAMPLE);
    const chain = onlyChain(rules);
    assert.ok(Object.isFrozen(rules));
    assert.ok(Object.isFrozen(chain.steps));
    assert.ok(Object.isFrozen(chain.steps[0]));
  });

  test('the same list used by several conditions gives the same answers', () => {
    const chain = onlyChain(compileOk('list t = { 10.0.0.0/8 }\nchain c = accept when src in t then junk when not src in t'));
    const f = facts({ src: '10.2.3.4' });
    assert.equal(chain.steps[0]?.when?.(f), true);
    assert.equal(chain.steps[1]?.when?.(f), false);
  });
});
