/**
 * `limit "2" count sessions` in real smtpd (E2E_SMTPD: 6.8 or 7.8): two
 * sessions of one client address held open, the third is disconnected at
 * connect with 421; once one of the two has quit (link-disconnect), a new
 * session is let in again.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DialogResult } from '../harness/dialog.js';
import { e2eSkipReason, FILTER_MAIN, filterRuntime } from '../harness/env.js';
import { exchangeFor, transcript } from '../harness/mail.js';
import { Smtpd } from '../harness/smtpd.js';
import { waitFor } from '../harness/wait.js';

const skip = e2eSkipReason();
const CLIENT = '198.51.100.20';

const RULES = `list trusted = { 127.0.0.0/8, ::1 }

chain inbound =
    accept when src in trusted
    then limit "2" count sessions per "src(32,64)" exceeded disconnect at connect
`;

describe('limit: sessions at once in real smtpd', { skip: skip ?? false }, () => {
  let smtpd: Smtpd;

  before(async () => {
    const rt = filterRuntime();
    smtpd = await Smtpd.start({
      files: { 'limits.rules': RULES },
      filter: (dir) => [rt.node, rt.resolve(FILTER_MAIN), join(dir, 'limits.rules')],
      loopbackNets: ['198.51.100.1/24'],
    });
  });
  after(async () => {
    await smtpd?.stop();
  });
  afterEach(() => {
    if (!smtpd.stopped) smtpd.assertHealthy();
  });

  function held(name: string): { done: Promise<DialogResult>; reached: string; release: string } {
    const reached = join(smtpd.dir, `${name}.reached`);
    const release = join(smtpd.dir, `${name}.release`);
    const done = smtpd.dialog({
      localAddress: CLIENT,
      steps: [
        { kind: 'command', line: 'EHLO held.example.net' },
        { kind: 'hold', reachedFile: reached, releaseFile: release },
        { kind: 'command', line: 'QUIT' },
      ],
    });
    return { done, reached, release };
  }
  const quick = (): Promise<DialogResult> => smtpd.dialog({ localAddress: CLIENT, timeoutMs: 10_000, steps: [{ kind: 'command', line: 'EHLO quick.example.net' }, { kind: 'command', line: 'QUIT' }] });

  test('the third session at once gets 421; after one quits, a new one is let in', () =>
    smtpd.withLog(async () => {
      const a = held('a');
      await waitFor(() => existsSync(a.reached), { timeoutMs: 10_000, what: 'session a to reach EHLO' });
      const b = held('b');
      await waitFor(() => existsSync(b.reached), { timeoutMs: 10_000, what: 'session b to reach EHLO' });
      const third = await quick();
      assert.equal(third.banner?.code, 421, transcript(third));
      writeFileSync(a.release, '');
      const ra = await a.done;
      assert.equal(exchangeFor(ra, 'QUIT')?.reply?.code, 221, transcript(ra));
      // smtpd reports link-disconnect after the QUIT: the next session gets in once the filter heard it.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const r = await quick();
        if (r.banner?.code === 220) break;
        assert.equal(r.banner?.code, 421, transcript(r));
        assert.ok(Date.now() < deadline, `no session let in after a quit\n${smtpd.logTail()}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      writeFileSync(b.release, '');
      await b.done;
    }));
});
