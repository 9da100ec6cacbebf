/**
 * The same hostile conversations (corpus.ts), fewer of them, against the real
 * filter process as smtpd runs it: `node dist/src/cli/main.js RULES` with
 * stdin/stdout as a socket pair, input written in arbitrary chunks, real
 * time. For each case: the process stays up until stdin closes, then exits 0
 * by itself; every stdout line is valid; no request is answered more often
 * than asked; every request still owed an answer gets one; data lines come
 * back as received; stderr holds JSON log lines only, and no internal error.
 *
 * Rules with real-time parts: short pauses and a policy step whose server
 * does not exist (the policy client's connect failure → on-error).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { conversation } from './corpus.js';
import { CountingOracle } from './oracle.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const SCALE = Number(process.env['FUZZ_RUNS'] ?? '1');
const RUNS = Math.max(1, Math.round(16 * SCALE));

const dir = mkdtempSync(join(tmpdir(), 'filter-rules-cli-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const RULES = join(dir, 'fuzz.rules');
writeFileSync(
  RULES,
  `list trusted = { 127.0.0.5 }
chain main =
    accept when src in trusted
    then pause 50ms
    then reject "550 5.7.1 bare IP | literal" when helo ~ /^\\[?[0-9.]+\\]?$/ or helo ~ /^(a+)+$/
    then disconnect "421 4.7.0 go away" when mail-from ~ /^bulk@/
    then junk when mail-from ~ /^junk@/
    then policy unix:${dir}/no-such-policy.sock timeout 200ms on-error proceed when rcpt-to ~ /mailtest/
    then policy unix:${dir}/no-such-policy.sock timeout 200ms when rcpt-to ~ /^bob/
    then pause 20ms at commit
`,
);

interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly oracle: CountingOracle;
  readonly caughtUp: boolean;
}

function runCli(chunks: readonly Buffer[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, RULES], { stdio: ['pipe', 'pipe', 'pipe'] });
    const oracle = new CountingOracle(1024 * 1024);
    let partial = '';
    let stderr = '';
    let caughtUp = false;
    child.stdout.on('data', (c: Buffer) => {
      const parts = (partial + c.toString('latin1')).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) oracle.output(l);
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      if (partial !== '') oracle.violations.push(`output ended inside a line: ${JSON.stringify(partial.slice(0, 100))}`);
      resolve({ code, signal, stderr, oracle, caughtUp });
    });
    child.stdin.on('error', () => undefined);
    for (const c of chunks) {
      oracle.input(c);
      child.stdin.write(c);
    }
    // Wait (real time: pauses, policy timeouts) until every owed answer came, then close stdin as smtpd would.
    const deadline = Date.now() + 10_000;
    const poll = setInterval(() => {
      if (child.exitCode !== null) {
        clearInterval(poll);
        return;
      }
      if (oracle.missing().length === 0 || Date.now() > deadline) {
        caughtUp = oracle.missing().length === 0;
        clearInterval(poll);
        child.stdin.end();
      }
    }, 20);
  });
}

describe('fuzz: hostile protocol input, against the real filter process', () => {
  test('valid lines only, one answer per request, exit 0 only at EOF', { timeout: 600_000 }, async (t) => {
    let cases = 0;
    let bytes = 0;
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(conversation({ advances: false, maxSessions: 5 }), async (conv) => {
        const chunks = conv.actions.flatMap((a) => (a.kind === 'bytes' ? [a.data] : []));
        const r = await runCli(chunks);
        r.oracle.finish();
        assert.equal(r.signal, null, `killed by ${r.signal}\n${r.stderr.slice(-2000)}`);
        assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr.slice(-2000)}`);
        assert.ok(r.caughtUp, 'answers were still missing after 10 s');
        assert.deepEqual(r.oracle.violations, []);
        const logs = r.stderr.split('\n').filter((l) => l !== '');
        for (const l of logs) {
          let parsed: { msg?: unknown };
          try {
            parsed = JSON.parse(l) as { msg?: unknown };
          } catch {
            assert.fail(`stderr line that is not a JSON log line: ${l.slice(0, 200)}`);
          }
          assert.ok(!/internal error|uncaught|unhandled/.test(String(parsed.msg)), l.slice(0, 400));
        }
        cases++;
        bytes += chunks.reduce((n, c) => n + c.length, 0);
        requests += [...r.oracle.asked.values()].reduce((a, b) => a + b, 0);
      }),
      { numRuns: RUNS, includeErrorInReport: true },
    );
    t.diagnostic(`${cases} filter processes, ${(bytes / 1e6).toFixed(1)} MB of hostile input, ${requests} well-formed requests`);
  });
});
