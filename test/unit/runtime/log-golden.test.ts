/**
 * Runtime goldens: what the filter logs, writes and counts while it serves
 * the recorded sessions (test/fixtures/transcripts, the smtpd 6.8 ones equal
 * to /work/shared/transcripts/smtpd-6.8), compared with test/golden/runtime/.
 * The tool goldens pin what `test` and `replay` print; these pin the log
 * records (level, message, fields) and the metric values themselves, which
 * issue 11's typed-events work rewires. A change must be deliberate:
 *   UPDATE_GOLDEN=1 node --test dist/test/unit/runtime/log-golden.test.js
 * and review the diff.
 *
 * Each rules file × run gets a fresh FilterHost on a FakeClock with the
 * production services, their I/O replaced: policy steps ask a scripted policy
 * server (FakeSocket, answers by recipient), greylist steps use an in-memory
 * store; pauses run the production pause factory (no socket-table watcher:
 * platform is not linux), metrics are a FilterMetrics attached as in
 * cli/app.ts (runtime events, the pause service's events), rendered without
 * process metrics. Lines are fed as smtpd sent them; after each one the test
 * lets promise callbacks run and, while a request is still unanswered (a
 * pause, a policy timeout), moves the clock in STEP_MS steps, as smtpd waits
 * for the answer before it sends that session's next line.
 *
 * Every value comes from the fake clock or the inputs, so durations are exact
 * and stay in the goldens (they are part of what is pinned: `ms`, `latencyMs`,
 * `ageMs`, the histograms). What is normalised is what comes from outside the
 * test: the checkout's path (→ repo-relative) and the Node.js version in
 * build_info.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadRules } from '../../../src/cli/commands.js';
import { FilterMetrics } from '../../../src/metrics/filter-metrics.js';
import type { PolicyConnector } from '../../../src/policy/connection.js';
import { createServices } from '../../../src/steps/services.js';
import { MemoryGreylistStore } from '../../../src/store/memory.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger, type LogRecord } from '../../../src/support/log.js';
import { ok } from '../../../src/support/result.js';
import { parseTranscript } from '../../../src/tools/transcript.js';
import { HANDSHAKE_78 } from '../../fuzz/protocol/corpus.js';
import { FakeSocket, parseRequests } from '../policy/fakes.js';
import { HostHarness, settle, SMTPD_68_CONFIG } from './helpers.js';
import { assertGolden } from '../support/golden-file.js';

const ROOT = new URL('../../../../', import.meta.url);
const ROOT_PATH = fileURLToPath(ROOT);
const GOLDEN = new URL('test/golden/runtime/', ROOT);

const RULES = ['rules/example-antispam.rules', 'test/fixtures/tools/dry-run.rules', 'test/fixtures/tools/probe.rules'] as const;

/** How far the clock moves per round while a request waits (pauses and timeouts are whole multiples). */
const STEP_MS = 100;
/** A request still unanswered after this long is a bug of the filter, not a slow step (the watchdog answers sooner). */
const MAX_WAIT_MS = 60_000;

interface Run {
  readonly name: string;
  readonly dir: string;
  readonly handshake: readonly string[];
  /** Move each session's client off 127.0.0.1, so rules with a trusted list run their other steps. */
  readonly remote: boolean;
}

const RUNS: readonly Run[] = [
  { name: 'smtpd-6.8', dir: 'smtpd-6.8', handshake: SMTPD_68_CONFIG, remote: false },
  { name: 'smtpd-6.8-remote', dir: 'smtpd-6.8', handshake: SMTPD_68_CONFIG, remote: true },
  { name: 'smtpd-7.8', dir: 'smtpd-7.8', handshake: HANDSHAKE_78, remote: false },
];

function recordings(dir: string): string[] {
  return readdirSync(new URL(`test/fixtures/transcripts/${dir}/`, ROOT))
    .filter((f) => f.endsWith('.txt') && !f.includes('.client.'))
    .sort();
}

/**
 * The n-th recording (1-based) as a remote client: odd ones from a dial-up
 * pool name (junk), even ones without reverse DNS (`not rdns`). Only the
 * link-connect report and the connect request carry the client.
 */
function asRemote(line: string, n: number): string {
  const f = line.split('|');
  const ip = n % 2 === 1 ? `198.51.100.${n}` : `203.0.113.${n}`;
  const rdns = n % 2 === 1 ? `dsl-${n}.pool.example.net` : '<unknown>';
  if (f[0] === 'report' && f[4] === 'link-connect' && f.length === 10) {
    const port = (f[8] ?? '').split(':').at(-1) ?? '0';
    return [...f.slice(0, 6), rdns, n % 2 === 1 ? 'pass' : 'fail', `${ip}:${port}`, ...f.slice(9)].join('|');
  }
  if (f[0] === 'filter' && f[4] === 'connect' && f.length === 9) return [...f.slice(0, 7), rdns, ip].join('|');
  return line;
}

/** A policy server's answer to a request, by recipient; null: it never answers (the step times out). */
function policyAnswer(request: ReadonlyMap<string, string>): string | null {
  switch ((request.get('recipient') ?? '').split('@')[0]) {
    case 'grey':
      return 'DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/localhost.html';
    case 'deny':
      return 'REJECT refused by the scripted policy server';
    case 'bye':
      return 'PREPEND X-Greylist: delayed 300 seconds by postgrey-1.37 at vm; Wed, 25 Nov 2026 19:35:26 +0000';
    case 'nosuchuser':
      return null;
    default:
      return 'DUNNO';
  }
}

/** A FakeSocket that plays the policy server: each complete request gets its scripted answer. */
class ScriptedPolicySocket extends FakeSocket {
  private asked = 0;

  override write(data: string): boolean {
    const accepted = super.write(data);
    const text = this.written.join('');
    const complete = parseRequests(text.slice(0, text.lastIndexOf('\n\n') + 2));
    for (; this.asked < complete.length; this.asked++) {
      const request = complete[this.asked];
      const answer = request === undefined ? null : policyAnswer(request);
      if (answer !== null) queueMicrotask(() => this.answer(`action=${answer}\n\n`));
    }
    return accepted;
  }
}

const scriptedPolicy: PolicyConnector = (address) => {
  const socket = new ScriptedPolicySocket(address);
  // Like net: the connection is reported asynchronously.
  queueMicrotask(() => socket.accept());
  return socket;
};

/** Absolute paths of this checkout → repo-relative, in every string. */
function normalise(value: unknown): unknown {
  if (typeof value === 'string') return value.split(ROOT_PATH).join('');
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  }
  return value;
}

interface Replayed {
  readonly jsonl: string;
  readonly prom: string;
  readonly requests: number;
  readonly answers: number;
}

async function replay(rulesFile: string, run: Run): Promise<Replayed> {
  const loaded = loadRules(fileURLToPath(new URL(rulesFile, ROOT)), null);
  if (!loaded.ok) assert.fail(loaded.messages.join('\n'));
  const clock = new FakeClock();
  const log = new RecordingLogger();
  let harness: HostHarness | null = null;
  const metrics = new FilterMetrics({
    chain: loaded.chain.name,
    version: 'golden',
    defaultMetrics: false,
    sources: { sessions: () => harness?.host.stats().sessions ?? 0 },
  });
  // As cli/app.ts wires them, with the I/O replaced.
  const services = createServices({
    clock,
    log,
    platform: 'golden',
    events: { pause: metrics.pause },
    policy: { connect: scriptedPolicy },
    greylist: { open: () => ok(new MemoryGreylistStore()), hostname: 'golden.example', version: 'golden', utcOffsetMinutes: () => 0 },
  });

  const out: string[] = [];
  let logged = 0;
  const collect = (at: string, lines: readonly string[]): void => {
    const t = clock.monotonic();
    for (const line of lines) out.push(JSON.stringify({ at, t, out: normalise(line) }));
    const fresh: LogRecord[] = log.records.slice(logged);
    logged = log.records.length;
    for (const r of fresh) out.push(JSON.stringify({ at, t, level: r.level, msg: r.msg, fields: normalise(r.fields) }));
  };

  const h = new HostHarness(loaded.rules, { chain: loaded.chain.name, services, events: metrics, clock, log, handshake: run.handshake });
  harness = h;
  collect('handshake', h.take());
  let requests = 0;
  for (const [i, file] of recordings(run.dir).entries()) {
    const runs = parseTranscript(readFileSync(new URL(`test/fixtures/transcripts/${run.dir}/${file}`, ROOT)));
    for (const input of runs.flatMap((r) => r.inputs)) {
      const text = input.bytes.toString('utf8');
      if (text.startsWith('config|')) continue; // the run's own handshake was sent above
      const line = run.remote ? asRemote(text, i + 1) : text;
      if (line.startsWith('filter|') && line.split('|')[4] !== 'data-line') requests++;
      const at = `${file}:${input.lineNo}`;
      collect(at, h.feedBytes(Buffer.from(`${line}\n`, 'utf8')));
      await settle();
      collect(at, h.take());
      for (let waited = 0; h.host.stats().pending > 0; waited += STEP_MS) {
        assert.ok(waited < MAX_WAIT_MS, `${at}: a request is still unanswered after ${MAX_WAIT_MS} ms`);
        collect(at, await h.advance(STEP_MS));
      }
    }
  }
  await h.host.end();
  await settle();
  collect('end', h.take());

  const prom = String(normalise((await metrics.render()).body)).replace(/(filter_rules_build_info\{[^}]*node=")[^"]*"/, '$1<node>"');
  const answers = out.filter((l) => l.includes('"out":"filter-result|')).length;
  return { jsonl: `${out.join('\n')}\n`, prom, requests, answers };
}

const golden = (name: string, actual: string): void => assertGolden(new URL(name, GOLDEN), actual);

const stem = (rulesFile: string, run: Run): string => `${basename(rulesFile, '.rules')}.${run.name}`;

describe('runtime goldens: log records, output lines and metrics over the recorded sessions', () => {
  for (const rulesFile of RULES) {
    for (const run of RUNS) {
      test(`${rulesFile} × ${run.name}`, async () => {
        const r = await replay(rulesFile, run);
        // Whatever the goldens say, each filter request got exactly one answer.
        assert.equal(r.answers, r.requests, 'one filter-result per filter request (data-line aside)');
        golden(`${stem(rulesFile, run)}.jsonl`, r.jsonl);
        golden(`${stem(rulesFile, run)}.prom`, r.prom);
      });
    }
  }

  test('every golden file belongs to a scenario (none left over from a renamed one)', () => {
    const expected = RULES.flatMap((f) => RUNS.flatMap((run) => [`${stem(f, run)}.jsonl`, `${stem(f, run)}.prom`])).sort();
    assert.deepEqual(readdirSync(GOLDEN).sort(), expected);
  });
});
