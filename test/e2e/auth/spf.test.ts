/**
 * The spf step in real smtpd (E2E_SMTPD: 6.8 or 7.8), with real DNS: an
 * unbound on port 53 of a network namespace that smtpd joins, where
 * resolv.conf (nameserver 127.0.0.1) sends the filter's lookups. A sender
 * whose domain says `-all` is refused by a rule; one that passes is
 * delivered; a domain whose lookups go to a DNS server that never answers
 * gives temperror within the step's timeout, answered by the rules' 451 and
 * never by a 5xx of ours. Each decision line logs the result.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Unbound } from '../../integration/dns/unbound.js';
import type { DialogResult } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { buildMessage, exchangeFor, mailSteps, marker, transcript } from '../harness/mail.js';
import { NetworkNamespace } from '../harness/netns.js';
import { Smtpd } from '../harness/smtpd.js';

const skip = e2eSkipReason();

/** The client's address: the only one the senders' records allow. */
const CLIENT = '127.0.0.20';
/** Where the namespace's silent DNS server listens: it reads queries and never answers. */
const SILENT_PORT = 5399;
const TIMEOUT_MS = 2000;

const RECORDS = [
  `pass.test. TXT "v=spf1 ip4:${CLIENT} -all"`,
  'fail.test. TXT "v=spf1 ip4:192.0.2.1 -all"',
  'slow.test. TXT "v=spf1 include:spf.slow -all"',
  'helo-fail.test. TXT "v=spf1 -all"',
];

const RULES = [
  'chain main =',
  `    spf timeout ${TIMEOUT_MS}ms`,
  `    then reject "550 5.7.23 SPF fail: not allowed to send for this domain" when spf in { fail }`,
  '    then reject "451 4.7.24 SPF: temporary DNS error, try again later" when spf in { temperror }',
  '',
].join('\n');

const SILENT_DNS = `require('node:dgram').createSocket('udp4').bind(${SILENT_PORT}, '127.0.0.1')`;

describe('spf in real smtpd, with unbound in the namespace', { skip: skip ?? false }, () => {
  let ns: NetworkNamespace;
  let dns: Unbound;
  let smtpd: Smtpd;

  before(async () => {
    ns = await NetworkNamespace.create();
    ns.spawn(process.execPath, ['-e', SILENT_DNS]);
    dns = await Unbound.start({
      records: RECORDS,
      port: 53,
      stubs: [{ zone: 'slow.', address: `127.0.0.1@${SILENT_PORT}` }],
      spawn: (cmd, args) => ns.spawn(cmd, args),
      // Asked from inside the namespace, as the filter asks: node:dns and the namespace's own 127.0.0.1.
      probe: async (port) => {
        const script = `const r=new (require('node:dns').promises.Resolver)({timeout:200,tries:1});r.setServers(['127.0.0.1:${port}']);r.resolveTxt('unbound-ready.test').then(()=>process.exit(0),()=>process.exit(1))`;
        return (await ns.exec(process.execPath, ['-e', script], 5000)).code === 0;
      },
    });
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      netns: ns,
      files: { 'spf.rules': RULES },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'spf.rules')],
      readyLog: /registered with smtpd/,
    });
  });
  after(async () => {
    await smtpd?.stop();
    await dns?.stop();
    await ns?.close();
  });

  const send = (from: string, subject: string): Promise<DialogResult> =>
    smtpd.dialog({ localAddress: CLIENT, timeoutMs: 20_000, steps: mailSteps({ helo: 'helo.test', from, message: buildMessage({ from, subject, body: 'spf test' }) }) });

  /** The decision line that carries the spf step's result for this domain (a proceed logs none). */
  const spfLine = (domain: string): Promise<string> => smtpd.waitForLog((l) => l.startsWith('rules: ') && l.includes('"spf":') && l.includes(`"domain":"${domain}"`), 10_000);

  test('a sender whose domain says -all is refused at MAIL FROM by the rule; the decision line logs spf fail', () =>
    smtpd.withLog(async () => {
      const r = await send('alice@fail.test', marker('spf-fail'));
      const t = transcript(r);
      assert.match(exchangeFor(r, 'MAIL FROM')?.reply?.lines.join('\n') ?? '', /^550 5\.7\.23 SPF fail/, t);
      const line = await spfLine('fail.test');
      assert.match(line, /"spf":"fail"/, line);
      assert.match(line, /"decision":"reject"/, line);
      smtpd.assertHealthy();
    }));

  test('a sender the domain allows is delivered', () =>
    smtpd.withLog(async () => {
      const subject = marker('spf-pass');
      const r = await send('bob@pass.test', subject);
      const t = transcript(r);
      assert.equal(exchangeFor(r, 'MAIL FROM')?.reply?.code, 250, t);
      assert.equal(exchangeFor(r, '<message>')?.reply?.code, 250, t);
      await smtpd.waitForMessage((m) => m.text.includes(subject));
    }));

  test('the null sender is checked as postmaster@HELO: a HELO name that says -all is refused', () =>
    smtpd.withLog(async () => {
      const r = await smtpd.dialog({ localAddress: CLIENT, timeoutMs: 20_000, steps: mailSteps({ helo: 'helo-fail.test', from: '' }) });
      assert.match(exchangeFor(r, 'MAIL FROM')?.reply?.lines.join('\n') ?? '', /^550 5\.7\.23 SPF fail/, transcript(r));
      assert.match(await spfLine('helo-fail.test'), /"spf":"fail"/);
    }));

  test('a DNS server that never answers: temperror within the timeout, the rule’s 451, never a 5xx of ours', () =>
    smtpd.withLog(async () => {
      const started = Date.now();
      const r = await send('carol@slow.test', marker('spf-slow'));
      const took = Date.now() - started;
      const t = transcript(r);
      const reply = exchangeFor(r, 'MAIL FROM')?.reply;
      assert.equal(r.timedOut, false, t);
      assert.match(reply?.lines.join('\n') ?? '', /^451 4\.7\.24 SPF: temporary DNS error/, t);
      // Bounded: the step's 2 s and the session's own round trips, far below smtpd's or the client's timeouts.
      assert.ok(took < 15_000, `the dialog took ${took} ms\n${t}`);
      const line = await spfLine('slow.test');
      assert.match(line, /"spf":"temperror"/, line);
      assert.match(line, /DNS timeout/, line);
      smtpd.assertHealthy();
    }));
});
