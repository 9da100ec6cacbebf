/**
 * DNS lists and scores end to end (issue 12): real smtpd (E2E_SMTPD: 6.8 or
 * 7.8) with the real filter, and a real rbldnsd on the loopback of their
 * network namespace (127.0.0.1:5353, run as nobody). The lists only add their
 * weights (`score-only`), a `score` step adds its points, thresholds decide,
 * and `score-header` writes the score into each delivered message. Clients
 * come from 198.51.100.0/24, made local on the namespace's loopback; only
 * 198.51.100.30 has a reverse name (the namespace's /etc/hosts).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from './harness/env.js';
import { delivered, rcptReply } from './harness/greylist.js';
import { buildMessage, mailSteps, marker, transcript } from './harness/mail.js';
import { NetworkNamespace } from './harness/netns.js';
import { Smtpd } from './harness/smtpd.js';
import { waitFor } from './harness/wait.js';

const skip = e2eSkipReason();
const NET = '198.51.100';
const DNS = '127.0.0.1:5353';

const RULES = [
  'chain main =',
  `    dnsbl "wl.test=127.0.[0..255].[1..3]*-2" as "dnswl" resolver "${DNS}" score-only`,
  `    then dnsbl "zen.test=127.0.0.[2..9]*3" as "zen" resolver "${DNS}" score-only`,
  `    then dnsbl "zen.test=127.0.0.[10..11]*1.5" as "pbl" resolver "${DNS}" score-only`,
  '    then score +1 "no-rdns" when not rdns',
  '    then accept when score <= -1',
  '    then disconnect "550 5.7.1 Service unavailable; client blocked by DNS lists" when score >= 3',
  '    then reject "451 4.7.1 suspicious, try later" when score >= 2 at rcpt-to',
  '    then score-header',
  '',
].join('\n');

/** One node:dns query inside the namespace, as the filter asks: exit 0 on an answer. */
const PROBE = `const r = new (require('node:dns').promises.Resolver)({ timeout: 200, tries: 1 });
r.setServers(['${DNS}']);
r.resolve4('2.0.0.127.zen.test').then(() => process.exit(0), () => process.exit(1));`;

describe('DNS lists and scores in real smtpd, against rbldnsd', { skip: skip ?? false }, () => {
  let ns: NetworkNamespace;
  let zones: string;
  let smtpd: Smtpd;

  before(async () => {
    ns = await NetworkNamespace.create({ loopbackNets: [`${NET}.1/24`] });
    zones = mkdtempSync(join(tmpdir(), 'filter-rules-e2e-zones-'));
    // rbldnsd drops to nobody before it reads the zones.
    chmodSync(zones, 0o755);
    const zone = (name: string, lines: readonly string[]): string => {
      const file = join(zones, `${name}.v4`);
      writeFileSync(file, [':127.0.0.2:Listed', '127.0.0.2', ...lines, ''].join('\n'), { mode: 0o644 });
      return `${name}:ip4set:${file}`;
    };
    ns.spawn('/usr/sbin/rbldnsd', [
      ...['-n', '-u', 'nobody', '-b', DNS.replace(':', '/'), '-t', '300', '-a'],
      zone('zen.test', [`${NET}.7 :127.0.0.2:SBL`, `${NET}.10 :127.0.0.10:PBL`]),
      zone('wl.test', [`${NET}.20 :127.0.10.2:trusted`]),
    ]);
    // Ready is its first answer, asked from inside the namespace.
    await waitFor(async () => (await ns.exec(process.execPath, ['-e', PROBE])).code === 0, { timeoutMs: 10_000, what: 'rbldnsd answering' });
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      netns: ns,
      files: { 'scores.rules': RULES },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'scores.rules')],
      hosts: { [`${NET}.30`]: 'mail.clean.example' },
    });
  });
  after(async () => {
    await smtpd?.stop();
    await ns?.close();
    if (zones !== undefined) rmSync(zones, { recursive: true, force: true });
  });
  afterEach(() => smtpd?.assertHealthy());

  const send = (client: number, subject: string) =>
    smtpd.dialog({
      localAddress: `${NET}.${client}`,
      timeoutMs: 15_000,
      steps: mailSteps({ helo: 'mail.sender.example', from: 'alice@sender.example', message: buildMessage({ from: 'alice@sender.example', subject, body: 'scores' }) }),
    });
  const headerOf = async (subject: string): Promise<string | undefined> =>
    (await smtpd.waitForMessage((m) => m.text.includes(subject))).headerLines.find((h) => h.startsWith('X-Filter-Rules-Score:'));

  test('an SBL listing (3, and no rDNS 1) is disconnected at connect with the threshold rule’s reply', async () => {
    const r = await send(7, marker('sbl'));
    assert.equal(r.banner?.code, 550, transcript(r));
    assert.match(r.banner?.lines.join('\n') ?? '', /^550 5\.7\.1 Service unavailable; client blocked by DNS lists$/, transcript(r));
  });

  test('PBL (1.5) and no rDNS (1) make 2.5: deferred at RCPT', async () => {
    const r = await send(10, marker('pbl'));
    assert.equal(rcptReply(r)?.text, '451 4.7.1 suspicious, try later', transcript(r));
  });

  test('below the thresholds: delivered, with the score and its parts in the message', async () => {
    const noRdns = marker('no-rdns');
    assert.ok(delivered(await send(40, noRdns)));
    assert.equal(await headerOf(noRdns), 'X-Filter-Rules-Score: 1 (no-rdns +1)');
    const clean = marker('clean');
    assert.ok(delivered(await send(30, clean)));
    assert.equal(await headerOf(clean), 'X-Filter-Rules-Score: 0');
  });

  test('a DNSWL client (-2, with no rDNS +1) is accepted for the session: delivered without the header', async () => {
    const subject = marker('dnswl');
    assert.ok(delivered(await send(20, subject)));
    assert.equal(await headerOf(subject), undefined);
  });

  test('the decision lines show the breakdowns', async () => {
    const scores = smtpd
      .filterLines()
      .filter((l) => l.includes('"msg":"decision"'))
      .map((l) => (JSON.parse(l) as Record<string, unknown>)['score']);
    assert.ok(scores.includes('4 (zen +3, no-rdns +1)'), JSON.stringify(scores));
    assert.ok(scores.includes('2.5 (pbl +1.5, no-rdns +1)'), JSON.stringify(scores));
    assert.ok(scores.includes('-1 (dnswl -2, no-rdns +1)'), JSON.stringify(scores));
  });
});
