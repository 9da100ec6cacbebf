/**
 * `--metrics 127.0.0.1:9464` in real smtpd (E2E_SMTPD: 6.8 or 7.8): sessions go through the
 * filter, then the endpoint is scraped from inside smtpd's network namespace
 * (curl), and the counters those sessions should move have moved.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from './harness/env.js';
import { exchangeFor, mailSteps, transcript } from './harness/mail.js';
import { Smtpd } from './harness/smtpd.js';

const PORT = 9464;
const RULES = `# test/e2e/metrics.test.ts
chain inbound =
    pause 1s pregreet disconnect
    then reject "550 5.7.1 bare IP address in HELO" when helo ~ /^\\[?[0-9.]+\\]?$/
`;

/** The value of `name{labels}` (labels: a subset), or null. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const l of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(l);
    if (m === null || m[1] !== name) continue;
    const got = new Map([...(m[3] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((p) => [p[1], p[2]]));
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v)) return Number(m[4]);
  }
  return null;
}

const skip = e2eSkipReason();

describe('metrics endpoint of the filter in real smtpd', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;
  let rulesPath = '';

  const scrape = async (): Promise<string> => {
    const r = await smtpd.exec('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${PORT}/metrics`], 10_000);
    assert.equal(r.code, 0, `curl failed: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      files: { 'inbound.rules': RULES },
      filter: (dir) => {
        rulesPath = join(dir, 'inbound.rules');
        return [rt.node, rt.resolve(FILTER_MAIN), '--metrics', `127.0.0.1:${PORT}`, rulesPath];
      },
      readyLog: /^rules: .*metrics endpoint listening/m,
    });
  });
  after(async () => {
    await smtpd?.stop();
  });
  afterEach(() => {
    if (smtpd?.stopped !== true) smtpd?.assertHealthy();
  });

  test('the endpoint answers before any session, with the build info and zero gauges', () =>
    smtpd.withLog(async () => {
      const body = await scrape();
      assert.equal(sample(body, 'filter_rules_build_info', { chain: 'inbound' }), 1);
      assert.equal(sample(body, 'filter_rules_sessions'), 0);
      assert.equal(sample(body, 'filter_rules_paused_sessions'), 0);
      // Process metrics are on in the real filter.
      assert.ok((sample(body, 'process_resident_memory_bytes') ?? 0) > 0);
    }));

  test('sessions move the decision, step, pause and early-talker counters', () =>
    smtpd.withLog(async () => {
      const polite = await smtpd.dialog({ localAddress: '127.0.0.31', steps: mailSteps({ helo: 'mail.example.net', from: 'a@example.net' }) });
      assert.equal(exchangeFor(polite, 'QUIT')?.reply?.code, 221, transcript(polite));
      const bareIp = await smtpd.dialog({ localAddress: '127.0.0.32', steps: mailSteps({ helo: '[192.0.2.1]', from: 'a@example.net' }) });
      assert.equal(exchangeFor(bareIp, 'EHLO')?.reply?.code, 550, transcript(bareIp));
      const talker = await smtpd.dialog({ localAddress: '127.0.0.33', early: 'EHLO x\r\n', steps: [] });
      assert.equal(talker.banner?.code, 554, transcript(talker));
      // Pipelining after the banner: smtpd's own refusal (500) is counted too.
      const piper = await smtpd.dialog({ localAddress: '127.0.0.34', steps: [{ kind: 'command', line: 'EHLO a.example\r\nNOOP' }] });
      assert.ok(piper.closedByServer, transcript(piper));
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('early talker dropped by smtpd') && l.includes('127.0.0.34'));

      const body = await scrape();
      const rule = (line: number) => `${rulesPath}:${line}`;
      assert.equal(sample(body, 'filter_rules_decisions_total', { phase: 'connect', decision: 'proceed' }), 3);
      assert.equal(sample(body, 'filter_rules_decisions_total', { phase: 'connect', decision: 'disconnect' }), 1);
      assert.equal(sample(body, 'filter_rules_decisions_total', { phase: 'ehlo', decision: 'reject' }), 1);
      assert.equal(sample(body, 'filter_rules_decision_duration_seconds_count', { phase: 'connect' }), 4);
      assert.equal(sample(body, 'filter_rules_decision_duration_seconds_bucket', { phase: 'connect', le: '0.5' }), 1, 'only the talker was answered early');
      assert.equal(sample(body, 'filter_rules_step_runs_total', { chain: 'inbound', step: '0', kind: 'pause', rule: rule(3) }), 4);
      assert.equal(sample(body, 'filter_rules_step_decisions_total', { step: '0', kind: 'pause', decision: 'disconnect' }), 1);
      assert.equal(sample(body, 'filter_rules_step_decisions_total', { step: '1', kind: 'reject', rule: rule(4), decision: 'reject' }), 1);
      assert.equal(sample(body, 'filter_rules_pauses_total', { result: 'waited' }), 3);
      assert.equal(sample(body, 'filter_rules_pauses_total', { result: 'talked' }), 1);
      assert.equal(sample(body, 'filter_rules_early_talkers_total', { detected_by: 'pause', action: 'disconnected' }), 1);
      assert.equal(sample(body, 'filter_rules_early_talkers_total', { detected_by: 'smtpd', action: 'dropped' }), 1);
      assert.equal(sample(body, 'filter_rules_paused_sessions'), 0);
      assert.equal(sample(body, 'filter_rules_sessions'), 0, 'every session ended');
    }));

  test('a paused session shows in the gauges while it waits', () =>
    smtpd.withLog(async () => {
      const waiting = smtpd.dialog({ localAddress: '127.0.0.35', steps: [{ kind: 'command', line: 'QUIT' }] });
      let seen = false;
      for (let i = 0; i < 20 && !seen; i++) {
        const body = await scrape();
        seen = sample(body, 'filter_rules_paused_sessions') === 1 && sample(body, 'filter_rules_sessions') === 1;
        if (!seen) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(seen, 'paused_sessions and sessions were never 1 during the pause');
      assert.equal((await waiting).banner?.code, 220);
    }));

  test('a reload is counted', () =>
    smtpd.withLog(async () => {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(rulesPath, RULES.replace('bare IP address in HELO', 'use a host name in HELO'));
      await smtpd.waitForLog((l) => l.startsWith('rules: ') && /rules swapped/.test(l), 10_000);
      let applied: number | null = null;
      for (let i = 0; i < 40 && applied !== 1; i++) {
        applied = sample(await scrape(), 'filter_rules_reloads_total', { result: 'applied' });
        if (applied !== 1) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(applied, 1);
    }));
});
