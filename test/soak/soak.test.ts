/**
 * No mail lost (issue 6): real smtpd (E2E_SMTPD: 6.8 or 7.8) with the real filter (as
 * `opensmtpd`, in its namespaces, test/e2e/harness) and a realistic chain —
 * a short pause, reject/disconnect/junk rules, postgrey and the built-in
 * greylisting (1 s delays) — under steady load from 10 concurrent senders
 * (test/soak/soak-client.ts), while the rules file is rewritten every few
 * seconds (in place or by rename) and postgrey is killed and restarted once.
 *
 * At the end:
 *  - every message a client got a 250 for is in the maildir, exactly once
 *    (matched by its unique Subject/Message-Id);
 *  - every refusal was a decision of the rules (the exact replies of this
 *    chain), or a 4xx the filter gave for its own fault (451/421 4.3.0, then
 *    retried by the client); no 5xx of its own, no hang, no reset session;
 *  - every message ended as its scenario should (accepted, or refused);
 *  - smtpd and the filter are alive, the filter ran as opensmtpd and logged
 *    no internal error, and the rules were reloaded all along.
 *
 * Length: SOAK_SECONDS of traffic (default 40, the CI variant, ~60 s in all);
 * `npm run soak` runs 300 s. SOAK_WORKERS (10) and SOAK_RELOAD_MS (3000) too.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { e2eSkipReason, FILTER_MAIN, FILTER_USER, filterRuntime, MAIL_USER, PROJECT_ROOT } from '../e2e/harness/env.js';
import { makeStateDir, type StateDir } from '../e2e/harness/greylist.js';
import { Smtpd } from '../e2e/harness/smtpd.js';
import { waitFor } from '../e2e/harness/wait.js';
import { Postgrey, postgreyUnavailable } from '../integration/policy/postgrey.js';
import type { Scenario, SoakClientConfig, SoakMessage, SoakReply, SoakSummary } from './soak-client.js';

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? '40');
const WORKERS = Number(process.env['SOAK_WORKERS'] ?? '10');
const RELOAD_MS = Number(process.env['SOAK_RELOAD_MS'] ?? '3000');
const SOAK_CLIENT = join(PROJECT_ROOT, 'dist', 'test', 'soak', 'soak-client.js');
const TRUSTED = '127.0.0.5';

/** The chain; `gen` labels a reply so a reload is visible, and the pause alternates. */
function rules(gen: number, postgreySocket: string, store: string): string {
  return `# soak rules, generation ${gen}
list trusted = { ${TRUSTED} }
list blocked = { bulk@spam.example }
chain inbound =
    accept when src in trusted
    then pause ${gen % 2 === 0 ? 200 : 150}ms
    then reject "550 5.7.1 bare IP address in HELO (gen ${gen})" when helo ~ /^\\[?[0-9.]+\\]?$/
    then disconnect "421 4.7.0 go away" when mail-from in blocked
    then junk when mail-from ~ /^junk-/
    then reject "550 5.1.1 no such user" when rcpt-to ~ /^nobody@/
    then postgrey unix:${postgreySocket} timeout 2s when mail-from ~ /^pg-/
    then greylist delay 1s store "sqlite:${store}" when mail-from ~ /^gl-/
`;
}

/** Replies that are decisions of the rules above (by step), and the scenario they belong to. */
const RULE_REPLIES: readonly { re: RegExp; step: string; scenario: Scenario; kind: string }[] = [
  { re: /^550 5\.7\.1 bare IP address in HELO \(gen \d+\)$/, step: 'EHLO', scenario: 'bare-ip', kind: 'reject bare IP' },
  { re: /^421 4\.7\.0 go away$/, step: 'MAIL', scenario: 'blocked', kind: 'disconnect blocked sender' },
  { re: /^550 5\.1\.1 no such user$/, step: 'RCPT', scenario: 'unknown-user', kind: 'reject unknown user' },
  { re: /^450 4\.\d\.\d Greylisted, see https?:\/\/postgrey/, step: 'RCPT', scenario: 'postgrey', kind: 'postgrey greylisted' },
  { re: /^451 4\.7\.1 Greylisted, please try again in \d+ seconds?$/, step: 'RCPT', scenario: 'greylist', kind: 'built-in greylisted' },
];
/** The filter's answer to a fault of its own (a step that failed, on-error tempfail): allowed, always 4xx. */
const FAULT_REPLY = /^4[25]1 4\.3\.0 Temporary failure, please try again later$/;
/** smtpd's own replies on the way of a normal message. */
const NORMAL: Readonly<Record<string, RegExp>> = {
  banner: /^220 /,
  EHLO: /^250[ -]/,
  MAIL: /^250 /,
  RCPT: /^250 /,
  DATA: /^354 /,
  message: /^250 2\.0\.0 [0-9a-f]+ Message accepted for delivery$/,
  QUIT: /^221 /,
};
const ACCEPTED_SCENARIOS: ReadonlySet<Scenario> = new Set(['normal', 'trusted', 'junk', 'postgrey', 'greylist']);

const skip = e2eSkipReason() ?? postgreyUnavailable();

describe('soak: no mail lost, under load, reloads and a postgrey restart', { skip: skip ?? false }, () => {
  let pg: Postgrey | undefined;
  let smtpd: Smtpd | undefined;
  let state: StateDir | undefined;
  after(async () => {
    await smtpd?.stop();
    await pg?.dispose();
    if (state !== undefined) rmSync(state.root, { recursive: true, force: true });
  });

  test(`${SECONDS} s of mail from ${WORKERS} senders`, { timeout: (SECONDS + 150) * 1000 }, async (t) => {
    pg = await Postgrey.start(1);
    state = makeStateDir();
    const store = join(state.state, 'greylist.db');
    const rt = filterRuntime();
    let gen = 0;
    smtpd = await Smtpd.start({
      files: { 'soak.rules': rules(gen, pg.socket, store) },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'soak.rules')],
    });
    const s = smtpd;
    const rulesFile = join(s.dir, 'soak.rules');

    const config: SoakClientConfig = {
      host: '127.0.0.1',
      port: s.port,
      workers: WORKERS,
      durationMs: SECONDS * 1000,
      runId: `${process.pid}${Date.now().toString(36)}`,
      trustedAddress: TRUSTED,
      recipient: `${MAIL_USER}@localhost`,
      maxAttempts: 8,
      retryDelayMs: 1500,
      replyTimeoutMs: 30_000,
    };
    const started = Date.now();
    const client = s.exec(process.execPath, [SOAK_CLIENT, JSON.stringify(config)], (SECONDS + 120) * 1000);

    // Meanwhile: the rules change every few seconds (in place, or by rename as editors save);
    // postgrey is killed and restarted once, at 40% of the run.
    let clientDone = false;
    void client.then(() => (clientDone = true));
    let postgreyRestarted = false;
    let written = 0;
    while (!clientDone) {
      await Promise.race([delay(RELOAD_MS), client]);
      if (clientDone) break;
      gen++;
      const text = rules(gen, pg.socket, store);
      if (gen % 2 === 0) {
        writeFileSync(`${rulesFile}.new`, text, { mode: 0o644 });
        renameSync(`${rulesFile}.new`, rulesFile);
      } else {
        writeFileSync(rulesFile, text);
      }
      written++;
      if (!postgreyRestarted && Date.now() - started > SECONDS * 400) {
        postgreyRestarted = true;
        await pg.kill();
        // Down until the filter has met the outage (its 4xx, retried by the clients), then back.
        await s.waitForLog((l) => l.startsWith('rules: ') && /policy request failed/.test(l), 10_000).catch(() => undefined);
        await pg.launch();
      }
    }
    const run = await client;
    assert.equal(run.code, 0, `soak client failed: ${run.stderr}`);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as SoakMessage | SoakSummary);
    const summary = lines.find((l): l is SoakSummary => l.kind === 'summary');
    const messages = lines.filter((l): l is SoakMessage => l.kind === 'message');
    assert.ok(summary !== undefined && summary.messages === messages.length, 'the client printed every message');

    // 1. Every reply was normal, a decision of the rules, or a 4xx for a fault of ours; no errors, no hangs.
    const problems: string[] = [];
    const decisions = new Map<string, number>();
    let faultReplies = 0;
    let brokenSessions = 0;
    const classify = (m: SoakMessage, r: SoakReply): void => {
      if (NORMAL[r.step]?.test(r.text) === true) return;
      if (FAULT_REPLY.test(r.text)) {
        faultReplies++;
        return;
      }
      const rule = RULE_REPLIES.find((x) => x.re.test(r.text));
      if (rule !== undefined && rule.step === r.step && rule.scenario === m.scenario) {
        decisions.set(rule.kind, (decisions.get(rule.kind) ?? 0) + 1);
        return;
      }
      problems.push(`${m.marker} (${m.scenario}) at ${r.step}: unexpected reply ${JSON.stringify(r.text)}`);
    };
    for (const m of messages) {
      for (const a of m.attempts) {
        for (const r of a.replies) classify(m, r);
        if (a.error !== null) {
          brokenSessions++;
          problems.push(`${m.marker} (${m.scenario}): ${a.error}; replies so far: ${a.replies.map((r) => `${r.step} ${r.code}`).join(', ')}`);
        }
      }
      const expected = ACCEPTED_SCENARIOS.has(m.scenario) ? 'accepted' : 'refused';
      if (m.outcome !== expected) problems.push(`${m.marker} (${m.scenario}) ended ${m.outcome}, expected ${expected}`);
    }

    // 2. Every 250 is a delivered message, exactly once.
    const accepted = new Set(messages.filter((m) => m.outcome === 'accepted').map((m) => m.marker));
    const subjects = (): Map<string, { count: number; spam: boolean }> => {
      const found = new Map<string, { count: number; spam: boolean }>();
      for (const d of s.messages()) {
        const subject = d.headerLines.find((h) => h.startsWith('Subject: '))?.slice(9).trim() ?? '';
        const prev = found.get(subject);
        found.set(subject, { count: (prev?.count ?? 0) + 1, spam: d.headerLines.includes('X-Spam: Yes') });
      }
      return found;
    };
    let delivered = new Map<string, { count: number; spam: boolean }>();
    await waitFor(
      () => {
        delivered = subjects();
        return [...accepted].every((mk) => delivered.has(mk));
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'every accepted message in the maildir', explain: () => `${[...accepted].filter((mk) => !delivered.has(mk)).length} missing` },
    ).catch(() => undefined);
    const lost = [...accepted].filter((mk) => !delivered.has(mk));
    const twice = [...delivered].filter(([, v]) => v.count > 1).map(([k]) => k);
    const unconfirmed = [...delivered.keys()].filter((k) => k.startsWith('soak-') && !accepted.has(k));
    const junkNotMarked = messages.filter((m) => m.scenario === 'junk' && m.outcome === 'accepted' && delivered.get(m.marker)?.spam !== true).map((m) => m.marker);

    // 3. Both still alive; the filter as opensmtpd; no internal error; reloads applied.
    s.assertHealthy();
    const filterPid = s.filterPid();
    assert.ok(filterPid !== null);
    const uid = readFileSync(`/proc/${filterPid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1];
    const expectedUid = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${FILTER_USER}:`))?.split(':')[2];
    const filterLog = s.filterLines();
    const internal = filterLog.filter((l) => /internal error|uncaught|unhandled|refused to send an invalid/.test(l));
    const reloads = filterLog.filter((l) => l.includes('rules reloaded')).length;
    const failedReloads = filterLog.filter((l) => /rules reload (failed|refused)/.test(l)).length;

    const byScenario = new Map<string, number>();
    for (const m of messages) byScenario.set(`${m.scenario}:${m.outcome}`, (byScenario.get(`${m.scenario}:${m.outcome}`) ?? 0) + 1);
    for (const line of [
        `${messages.length} messages in ${summary.sessions} SMTP sessions over ${(summary.elapsedMs / 1000).toFixed(0)} s (${WORKERS} senders)`,
        `${accepted.size} accepted with 250, ${accepted.size - lost.length} of them delivered (lost: ${lost.length}, delivered twice: ${twice.length}, delivered without a 250 seen: ${unconfirmed.length})`,
        `refusals by the rules: ${[...decisions].map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `4xx for the filter's own faults (postgrey down): ${faultReplies}; broken sessions: ${brokenSessions}`,
        `rules rewritten ${written} times, ${reloads} reloads applied (${failedReloads} failed); postgrey restarted: ${postgreyRestarted}`,
      `outcomes: ${[...byScenario].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`,
    ]) {
      t.diagnostic(line);
    }

    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems`);
    assert.deepEqual(lost, [], 'messages accepted with 250 but never delivered');
    assert.deepEqual(twice, [], 'messages delivered twice');
    assert.deepEqual(junkNotMarked, [], 'junk delivered without X-Spam: Yes');
    assert.equal(uid, expectedUid, 'the filter runs as opensmtpd');
    assert.deepEqual(internal, []);
    assert.ok(accepted.size > 50, `only ${accepted.size} messages accepted: the load did not run`);
    assert.ok(written === 0 || reloads >= Math.min(written, 2), `${written} rewrites, ${reloads} reloads applied`);
    assert.equal(failedReloads, 0);
    assert.ok(postgreyRestarted || SECONDS < 10, 'postgrey was restarted during the run');
    for (const kind of ['reject bare IP', 'disconnect blocked sender', 'reject unknown user', 'built-in greylisted']) {
      assert.ok((decisions.get(kind) ?? 0) > 0, `no "${kind}" seen`);
    }
  });
});
