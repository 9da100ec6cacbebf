/**
 * postfwd as the oracle for the `limit` step: the same limit, 3 recipients
 * per client address per 6 s, enforced by a real postfwd (its rate() action,
 * asked through our `policy` step) and by our `limit` step with each counter
 * store (memory, SQLite, and a real Redis when redis-server is installed),
 * each in a real filter process, over the same sequence of RCPT requests fed
 * to both at the same moment; the decisions are compared request by request.
 *
 * postfwd's rate() is a fixed window: the first request of a client opens it
 * for 6 s and counts 1; a request passes while the count stays <= 3 (a refused
 * one is not counted); the window renews at the first request after it ended.
 * The `limit` step is GCRA: a bucket of 3 that refills one every 2 s (6 s / 3).
 * What must agree, and is compared: the first 3 of a client pass, the 4th and
 * 5th right after are refused with a 4xx, other clients are not affected, and
 * once the whole period has passed 3 pass again. What differs by design, and
 * is asserted as a difference: 2 s after a burst, the `limit` step lets one
 * more through (a token came back) while postfwd refuses until its window
 * ends (docs/limits.md, "postfwd's rate()").
 *
 * The waits are on the clock itself (until a moment has passed), since both
 * sides decide on real time; each phase's requests take milliseconds, far less
 * than the 2 s a token takes to come back. Skipped without postfwd.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliFilter, waitFor } from '../faults/live.js';
import { findRedisServer, RedisServer } from '../store/redis-server.js';
import { POSTFWD, PostfwdDaemon } from './postfwd-daemon.js';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const skip = existsSync(POSTFWD) ? false : `${POSTFWD} not installed (apt-get install --no-install-recommends postfwd)`;

const MAX = 3;
const PERIOD_S = 6;
const TOKEN_MS = (PERIOD_S * 1000) / MAX;

type Verdict = 'pass' | 'refused' | 'other';
/** Both sides' answers reduced to what they must agree on: passed, or refused with a 4xx. */
function verdict(decision: string): Verdict {
  if (decision === 'proceed') return 'pass';
  if (/^reject\|4\d\d 4\.7\.1 /.test(decision)) return 'refused';
  return 'other';
}

describe('postfwd rate() vs the limit step: the same limit over the same requests', { skip }, () => {
  let dir: string;
  let postfwd: PostfwdDaemon;
  let viaPolicy: CliFilter;
  let redis: RedisServer | undefined;
  /** The limit step, one filter per counter store. */
  const viaLimit = new Map<string, CliFilter>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'filter-rules-limits-oracle-'));
    postfwd = await PostfwdDaemon.start(`id=RCPTRATE; action=rate(client_address/${MAX}/${PERIOD_S}/450 4.7.1 postfwd rate limit exceeded)\n`);
    const policyRules = join(dir, 'policy.rules');
    writeFileSync(policyRules, `chain main =\n    policy unix:${postfwd.socket} timeout 5s\n`);
    if (findRedisServer() !== null) redis = await RedisServer.start();
    const stores: Array<[string, string]> = [
      ['memory', 'memory:'],
      ['sqlite', `sqlite:${join(dir, 'limits.db')}`],
      ...(redis !== undefined ? [['redis', redis.url(0)] as [string, string]] : []),
    ];
    const started = await Promise.all([
      CliFilter.start([process.execPath, MAIN, policyRules]),
      ...stores.map(([name, store]) => {
        const file = join(dir, `limit-${name}.rules`);
        writeFileSync(file, `chain main =\n    limit "${MAX}/${PERIOD_S}s" per "src(32,128)" count recipients store "${store}"\n`);
        return CliFilter.start([process.execPath, MAIN, file]);
      }),
    ]);
    viaPolicy = started[0] as CliFilter;
    stores.forEach(([name], i) => viaLimit.set(name, started[i + 1] as CliFilter));
  });
  after(async () => {
    for (const f of [viaPolicy, ...viaLimit.values()]) if (f !== undefined) await f.end().catch(() => f.kill());
    await postfwd?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One RCPT (a whole session) from `client`, to every filter at once; postfwd's verdict, each store's, and the decisions. */
  async function both(client: string, n: number): Promise<{ postfwd: Verdict; limit: Map<string, Verdict>; raw: string }> {
    const opts = { src: client, from: 'alice@example.net' };
    const names = [...viaLimit.keys()];
    const [p, ...ls] = await Promise.all([viaPolicy, ...viaLimit.values()].map((f) => f.rcpt(`r${n}@rcpt.example`, opts)));
    const limit = new Map(names.map((name, i) => [name, verdict(ls[i]?.decision ?? '')]));
    const raw = [`postfwd: ${p?.decision}`, ...names.map((name, i) => `limit ${name}: ${ls[i]?.decision}`)].join(' / ');
    return { postfwd: verdict(p?.decision ?? ''), limit, raw };
  }

  /** Feed a sequence; compare request by request with the expected verdicts, which both must give. */
  async function agree(sequence: ReadonlyArray<readonly [client: string, want: Verdict]>): Promise<void> {
    for (const [i, [client, want]] of sequence.entries()) {
      const got = await both(client, i);
      assert.equal(got.postfwd, want, `request ${i} from ${client}, postfwd: ${got.raw}`);
      for (const [store, v] of got.limit) assert.equal(v, want, `request ${i} from ${client}, limit (${store}): ${got.raw}`);
    }
  }

  const until = (at: number, what: string): Promise<void> => waitFor(() => Date.now() >= at, PERIOD_S * 3000, what);

  test('the first 3 of a client pass, the 4th and 5th are refused, others unaffected; after the period 3 pass again; in between they differ by design', async () => {
    const A = '192.0.2.10';
    const B = '192.0.2.11';
    const C = '2001:db8::25';
    const D = '198.51.100.5';
    const start = Date.now();
    await agree([
      [A, 'pass'],
      [B, 'pass'],
      [A, 'pass'],
      [C, 'pass'],
      [A, 'pass'],
      [A, 'refused'],
      [B, 'pass'],
      [A, 'refused'],
      [B, 'pass'],
      [B, 'refused'],
      [C, 'pass'],
      [D, 'pass'],
      [D, 'pass'],
      [D, 'pass'],
      [D, 'refused'],
    ]);
    const burst = Date.now();
    assert.ok(burst - start < TOKEN_MS, `the burst took ${burst - start} ms, more than a token's ${TOKEN_MS} ms: the machine is too slow for this comparison`);

    // By design: a token back after 2 s for GCRA; postfwd's window is still open (until start + 6 s).
    await until(burst + TOKEN_MS + 250, 'a token to come back');
    const between = await both(D, 100);
    assert.ok(Date.now() < start + PERIOD_S * 1000, 'still inside postfwd’s window');
    assert.equal(between.postfwd, 'refused', `2 s after the burst: ${between.raw}`);
    for (const [store, v] of between.limit) assert.equal(v, 'pass', `2 s after the burst, limit (${store}): ${between.raw}`);

    // After the whole period (from the last event that used a token, plus postfwd's strict `now > until`), both agree again.
    await until(Date.now() + PERIOD_S * 1000 + 500, 'the period to pass');
    await agree([
      [A, 'pass'],
      [A, 'pass'],
      [B, 'pass'],
      [A, 'pass'],
      [A, 'refused'],
      [C, 'pass'],
      [D, 'pass'],
    ]);
    assert.deepEqual(viaPolicy.invalidLines(), []);
    for (const f of viaLimit.values()) assert.deepEqual(f.invalidLines(), []);
    assert.ok(viaLimit.size >= 2);
  });
});
