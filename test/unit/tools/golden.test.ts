/**
 * What `filter-rules test` and `filter-rules replay` print, compared with
 * test/golden/tools/*.txt. A change of output must be deliberate:
 * regenerate with `UPDATE_GOLDEN=1 node --test dist/test/unit/tools/golden.test.js`
 * and review the diff.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { loadRules } from '../../../src/cli/commands.js';
import { parseReplayArgs, parseTestArgs } from '../../../src/tools/args.js';
import { runReplayCommand, runTestCommand, type ToolIo } from '../../../src/tools/commands.js';
import { assertGolden } from '../support/golden-file.js';

const ROOT = new URL('../../../../', import.meta.url);
const GOLDEN = new URL('test/golden/tools/', ROOT);

const path = (rel: string): string => new URL(rel, ROOT).pathname;

const TRANSCRIPTS = readdirSync(new URL('test/fixtures/transcripts/smtpd-6.8/', ROOT))
  .filter((f) => f.endsWith('.txt') && !f.includes('.client.'))
  .sort()
  .map((f) => `test/fixtures/transcripts/smtpd-6.8/${f}`);

const golden = (name: string, actual: string): void => assertGolden(new URL(name, GOLDEN), actual);

interface Captured {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** Run a tool command as the CLI would (argv after the command word), paths relative to the project. */
async function tool(argv: string[], io: Partial<ToolIo> = {}): Promise<Captured> {
  let out = '';
  let err = '';
  const full: ToolIo = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    readFile: (p) => readFileSync(path(p)),
    uid: null,
    ...io,
  };
  const [word, ...rest] = argv;
  const cmd = word === 'test' ? parseTestArgs(rest) : parseReplayArgs(rest);
  if (!cmd.ok) assert.fail(cmd.error);
  const loaded = loadRules(path(cmd.value.rulesFile), cmd.value.chain);
  if (!loaded.ok) assert.fail(loaded.messages.join('\n'));
  const code = cmd.value.kind === 'test' ? await runTestCommand(cmd.value, loaded, full) : await runReplayCommand(cmd.value, loaded, full);
  return { code, out, err };
}

describe('golden: filter-rules test', () => {
  test('the issue example: a client in the trusted list is accepted at connect', async () => {
    const r = await tool(['test', 'rules/example-antispam.rules', '--src', '192.0.2.7', '--rdns', 'mx.example.net', '--helo', 'mx.example.net', '--mail-from', 'a@example.net', '--rcpt-to', 'b@example.com', '--offline']);
    assert.equal(r.code, 0);
    golden('test-antispam-trusted.txt', r.out);
  });

  test('the example rules against a bot: bare IP address in HELO', async () => {
    const r = await tool(['test', 'rules/example-antispam.rules', '--src', '198.51.100.23', '--rdns', 'dsl-23.pool.example.net', '--helo', '[198.51.100.23]', '--offline']);
    golden('test-antispam-bare-ip.txt', r.out);
  });

  test('the example rules: a bulk sender is disconnected at MAIL FROM', async () => {
    const r = await tool(['test', 'rules/example-antispam.rules', '--mail-from', 'bulk@example.org', '--rcpt-to', 'a@example.com', '--rcpt-to', 'b@example.com', '--offline']);
    golden('test-antispam-bulk.txt', r.out);
  });

  test('the default rules: a client without reverse DNS is junked, its mail delivered', async () => {
    const r = await tool(['test', 'rules/default.rules', '--no-rdns', '--offline']);
    golden('test-default-no-rdns.txt', r.out);
  });

  test('the submission example: an authenticated client (STARTTLS, AUTH) is accepted at mail-from and not greylisted', async () => {
    const r = await tool(['test', 'examples/submission/antispam.rules', '--chain', 'submission', '--auth-user', 'alice', '--offline']);
    assert.equal(r.code, 0);
    golden('test-submission-auth.txt', r.out);
  });

  test('the submission example: a client that does STARTTLS but no AUTH is greylisted', async () => {
    const r = await tool(['test', 'examples/submission/antispam.rules', '--chain', 'submission', '--tls=TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256:128', '--offline']);
    assert.equal(r.code, 0);
    golden('test-submission-tls.txt', r.out);
  });

  test('shadow rules: dry-run steps say what they would have done', async () => {
    const r = await tool(['test', 'test/fixtures/tools/dry-run.rules', '--no-rdns', '--helo', '192.0.2.1', '--offline']);
    golden('test-dry-run.txt', r.out);
  });
});

describe('golden: filter-rules replay', () => {
  test('the example rules over every smtpd 6.8 recording', async () => {
    const r = await tool(['replay', 'rules/example-antispam.rules', ...TRANSCRIPTS]);
    assert.equal(r.code, 0);
    golden('replay-antispam.txt', r.out);
  });

  test("the probe's rules over every recording (decisions, dry-run lines, rules)", async () => {
    const r = await tool(['replay', 'test/fixtures/tools/probe.rules', ...TRANSCRIPTS]);
    assert.equal(r.code, 0);
    golden('replay-probe.txt', r.out);
  });

  test('--expect with the saved decisions passes (exit 0)', async () => {
    const r = await tool(['replay', 'test/fixtures/tools/probe.rules', ...TRANSCRIPTS, '--expect', 'test/golden/tools/replay-probe.txt']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^test\/golden\/tools\/replay-probe\.txt: decisions as expected \(\d+ session\(s\), \d+ request\(s\)\)\n$/);
  });

  test('--expect after a rules edit fails (exit 1) and shows what changed', async () => {
    const r = await tool(['replay', 'test/fixtures/tools/probe-changed.rules', ...TRANSCRIPTS, '--expect', 'test/golden/tools/replay-probe.txt']);
    assert.equal(r.code, 1);
    golden('replay-expect-diff.txt', r.out);
  });

  test('--update-expect writes the listing that --expect then accepts', async () => {
    const files = new Map<string, string>();
    const io: Partial<ToolIo> = {
      writeFile: (p, t) => void files.set(p, t),
      readFile: (p) => (files.has(p) ? Buffer.from(files.get(p) ?? '') : readFileSync(path(p))),
    };
    const w = await tool(['replay', 'test/fixtures/tools/probe.rules', ...TRANSCRIPTS, '--expect', 'mem.expect', '--update-expect'], io);
    assert.equal(w.code, 0);
    assert.equal(files.get('mem.expect'), readFileSync(new URL('replay-probe.txt', GOLDEN), 'utf8'));
    const again = await tool(['replay', 'test/fixtures/tools/probe.rules', ...TRANSCRIPTS, '--expect', 'mem.expect'], io);
    assert.equal(again.code, 0);
  });

  test('a missing expectation file is an error that says how to write it', async () => {
    const r = await tool(['replay', 'test/fixtures/tools/probe.rules', TRANSCRIPTS[0] ?? '', '--expect', 'test/golden/tools/none.txt']);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot read test\/golden\/tools\/none\.txt: .*\(write it with --update-expect\)/);
  });
});
