/**
 * The hold-the-message path (runtime/message-hold.ts) through the host, on
 * the data-lines smtpd 6.8 sent in the recorded transcripts (dot-stuffed):
 * lines held, read by the commit steps that read messages, edited, written
 * once at the client's `.`, and the reading answered at commit; every path
 * (a failure, a timeout, a disconnect, an accepted transaction, a dry run, a
 * spool that cannot be read back) writes each line exactly once.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { makeField } from '../../../src/message/fields.js';
import type { Spool } from '../../../src/message/spool.js';
import type { HeaderEdit, MessageReading } from '../../../src/model/message.js';
import type { CompiledRules } from '../../../src/model/plan.js';
import { answerFromReading } from '../../../src/model/reading.js';
import type { MessageContext, StepRunner } from '../../../src/model/runner.js';
import { MessageHold } from '../../../src/runtime/message-hold.js';
import { buildPlan, DEFAULT_TIMINGS } from '../../../src/runtime/plan.js';
import { ProtocolWriter } from '../../../src/protocol/writer.js';
import { stateless } from '../../../src/steps/service.js';
import { FakeClock } from '../../../src/support/clock.js';
import { RecordingLogger, silentLogger } from '../../../src/support/log.js';
import { accept, chain, dataline, HostHarness, line, policy, result, rules, settle, SID, testServices, type StepSpec } from './helpers.js';

const DIR = new URL('../../../../test/fixtures/transcripts/smtpd-6.8/', import.meta.url);
const TEMPFAIL_COMMIT = 'reject|451 4.3.0 Temporary failure, please try again later';

/** Each `> ` data-line request of a transcript and the `< ` lines the probe echoed, per message. */
function messagesOf(name: string): { requests: string[]; echoed: string[] }[] {
  const out: { requests: string[]; echoed: string[] }[] = [];
  let current: { requests: string[]; echoed: string[] } | null = null;
  for (const l of readFileSync(new URL(name, DIR), 'utf8').split('\n')) {
    if (l.startsWith('> ') && l.includes('|data-line|')) {
      current ??= { requests: [], echoed: [] };
      current.requests.push(l.slice(2));
    } else if (l.startsWith('< filter-dataline|') && current !== null) {
      current.echoed.push(l.slice(2));
      if (l.endsWith('|.')) {
        out.push(current);
        current = null;
      }
    }
  }
  return out;
}

const withMessages = readdirSync(DIR)
  .filter((f) => f.endsWith('.txt') && !f.includes('.client.'))
  .sort()
  .filter((f) => messagesOf(f).length > 0);

/** The reader's part: what it does with the message. */
type Read = (ctx: MessageContext) => Promise<MessageReading>;

/** Services whose `policy` steps read the message with `read` and answer at commit from the reading. */
function reading(read: Read): ReturnType<typeof testServices> {
  return testServices({
    policy: stateless((step): StepRunner => ({ step, readMessage: read, run: (ctx) => answerFromReading(step, ctx.facts) })),
  });
}

function commitRules(extra: Partial<StepSpec> = {}, before: readonly StepSpec[] = []): CompiledRules {
  return rules([chain('main', [...before, { action: policy(), phase: 'commit', ...extra }])], true);
}

function text(ctx: MessageContext): string {
  return Buffer.concat([...ctx.message.chunks()]).toString('latin1');
}

const proceedReading = (edits: readonly HeaderEdit[] = []): MessageReading => ({ edits, outcome: { type: 'continue' } });

function field(name: string, value: string) {
  const f = makeField(name, value);
  assert.ok(f.ok);
  return f.value;
}

/** Opens a session up to DATA. */
function open(h: HostHarness): void {
  h.feed(line.connect());
  h.feed(line.request('mail-from', 'a@x'));
  h.feed(line.request('rcpt-to', 'b@x'));
  h.feed(line.request('data'));
}

describe('message hold: the recorded messages', () => {
  test('the transcripts hold messages (one with dot-stuffed lines)', () => {
    assert.ok(withMessages.includes('03-dots-pipes-long.txt'), withMessages.join(', '));
    assert.ok(messagesOf('03-dots-pipes-long.txt')[0]?.requests.some((r) => r.endsWith('|..leading dot line')));
  });

  for (const name of withMessages) {
    test(`${name}: nothing is written before the client's dot, then the lines as received and one dot; commit answers from the reading`, async () => {
      const seen: string[] = [];
      const h = new HostHarness(commitRules(), {
        services: reading((ctx) => {
          seen.push(text(ctx));
          return Promise.resolve(proceedReading());
        }),
      });
      const messages = messagesOf(name);
      for (const message of messages) {
        const sid = message.requests[0]?.split('|')[5] ?? '';
        h.feed(line.connect(sid));
        for (const [i, request] of message.requests.slice(0, -1).entries()) assert.deepEqual(h.feed(request), [], `line ${i + 1} held`);
        assert.deepEqual(await dot(h, message.requests.at(-1)), message.echoed, 'byte-identical to the echo, one dot');
        assert.deepEqual(h.feed(line.request('commit', '', sid)), [result('commit', 'proceed', sid)]);
        h.feed(line.disconnect(sid));
      }
      assert.equal(seen.length, messages.length);
      for (const s of seen) assert.ok(s.endsWith('\r\n'), 'lines end with CRLF');
    });
  }

  test('the reader sees the message unstuffed: `..leading dot line` is `.leading dot line`', async () => {
    let seen = '';
    const h = new HostHarness(commitRules(), {
      services: reading((ctx) => {
        seen = text(ctx);
        return Promise.resolve(proceedReading());
      }),
    });
    const [message] = messagesOf('03-dots-pipes-long.txt');
    assert.ok(message);
    h.feed(line.connect(message.requests[0]?.split('|')[5]));
    for (const r of message.requests) h.feed(r);
    await settle();
    assert.match(seen, /\r\n\.leading dot line\r\n\.\.two dots\r\nwith\|pipes\|inside\r\n/);
    assert.match(seen, /^Received: from vm/);
  });
});

/** The client's dot: what is written then and once promise callbacks ran. */
async function dot(h: HostHarness, request = line.request('data-line', '.')): Promise<string[]> {
  const now = h.feed(request);
  return [...now, ...(await settleTake(h))];
}

/** Let promise callbacks run, then the lines written. */
async function settleTake(h: HostHarness): Promise<string[]> {
  await settle();
  return h.take();
}

describe('message hold: edits and answers', () => {
  test('edits apply to the header block; header lines from earlier steps are held first and can be removed', async () => {
    const h = new HostHarness(commitRules({}, [{ action: { kind: 'junk' }, phase: 'rcpt-to', dryRun: true }]), {
      services: reading(() =>
        Promise.resolve(
          proceedReading([
            { type: 'remove', name: 'x-spam-flag', index: 0 },
            { type: 'insert', position: 1, field: field('X-Spamd-Result', 'default: False [1.00 / 15.00];\n\tSYMBOL(1.00)') },
            { type: 'append', field: field('X-Rspamd-Action', 'no action') },
          ]),
        ),
      ),
    });
    open(h);
    assert.deepEqual(h.feed(line.request('data-line', 'Received: from x')), []);
    h.feed(line.request('data-line', 'X-Spam-Flag: YES'));
    h.feed(line.request('data-line', 'Subject: hi'));
    h.feed(line.request('data-line', ''));
    h.feed(line.request('data-line', '..dot'));
    assert.deepEqual(await dot(h), [
      dataline('X-Spamd-Result: default: False [1.00 / 15.00];'),
      dataline('\tSYMBOL(1.00)'),
      dataline('Received: from x'),
      dataline('Subject: hi'),
      dataline('X-Rspamd-Action: no action'),
      dataline(''),
      dataline('..dot'),
      dataline('.'),
    ]);
  });

  test('a dry-run step reads, but its edits are not applied and its answer changes nothing', async () => {
    const h = new HostHarness(commitRules({ dryRun: true }), {
      services: reading(() =>
        Promise.resolve({
          edits: [{ type: 'append', field: field('X-Test', 'yes') }],
          outcome: { type: 'decide', decision: { type: 'reject', reply: '550 5.7.1 spam' } },
        }),
      ),
    });
    open(h);
    h.feed(line.request('data-line', 'Subject: hi'));
    h.feed(line.request('data-line', ''));
    assert.deepEqual(await dot(h), [dataline('Subject: hi'), dataline(''), dataline('.')]);
    assert.deepEqual(h.feed(line.request('commit')), [result('commit', 'proceed')]);
  });

  test('a reading that decides is answered at commit', async () => {
    const h = new HostHarness(commitRules(), {
      services: reading(() => Promise.resolve({ edits: [], outcome: { type: 'decide', decision: { type: 'reject', reply: '550 5.7.1 Gtube pattern' } } })),
    });
    open(h);
    h.feed(line.request('data-line', 'Subject: hi'));
    assert.deepEqual(await dot(h), [dataline('Subject: hi'), dataline('.')]);
    assert.deepEqual(h.feed(line.request('commit')), [result('commit', 'reject|550 5.7.1 Gtube pattern')]);
    // The next transaction starts without the reading.
    h.feed(line.report('tx-reset', SID, '89fe53ce'));
    h.feed(line.request('mail-from', 'a@x'));
    h.feed(line.request('data'));
    assert.deepEqual(h.feed(line.request('commit')), [result('commit', 'proceed')], 'no message held: the step goes on');
  });

  test('a reader that hangs: at its deadline the lines and the dot go back, its signal is aborted, commit tempfails (timedOut)', async () => {
    let signal: AbortSignal | null = null;
    const h = new HostHarness(commitRules(), {
      services: reading((ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      }),
    });
    open(h);
    h.feed(line.request('data-line', 'Subject: hi'));
    assert.deepEqual(h.feed(line.request('data-line', '.')), []);
    // Default deadline of a kind that states none (10 s) plus the margin (1 s).
    assert.deepEqual(await h.advance(10_999), []);
    assert.deepEqual(await h.advance(1), [dataline('Subject: hi'), dataline('.')]);
    assert.equal((signal as AbortSignal | null)?.aborted, true);
    assert.deepEqual(h.feed(line.request('commit')), [result('commit', TEMPFAIL_COMMIT)]);
    const fault = h.log.records.find((r) => r.msg === 'step failed');
    assert.equal(fault?.fields.timedOut, true);
  });

  test('a reader that fails: the lines go back unedited; on-error proceed lets the message through', async () => {
    const h = new HostHarness(commitRules({ onError: 'proceed' }), { services: reading(() => Promise.reject(new Error('connection refused'))) });
    open(h);
    h.feed(line.request('data-line', 'Subject: hi'));
    assert.deepEqual(await dot(h), [dataline('Subject: hi'), dataline('.')]);
    assert.deepEqual(h.feed(line.request('commit')), [result('commit', 'proceed')]);
    assert.ok(h.log.records.some((r) => r.msg === 'step failed' && r.fields.error === 'connection refused'));
  });

  test('a reader that throws at once is a failure like any other', async () => {
    const h = new HostHarness(commitRules(), {
      services: reading(() => {
        throw new Error('bug');
      }),
    });
    open(h);
    h.feed(line.request('data-line', 'Subject: hi'));
    assert.deepEqual(await dot(h), [dataline('Subject: hi'), dataline('.')]);
    assert.deepEqual(h.feed(line.request('commit')), [result('commit', TEMPFAIL_COMMIT)]);
  });

  test('a step whose `when` does not hold at the dot does not read', async () => {
    let reads = 0;
    const h = new HostHarness(commitRules({ when: (f) => f.authUser !== null }), {
      services: reading(() => {
        reads++;
        return Promise.resolve(proceedReading());
      }),
    });
    open(h);
    h.feed(line.request('data-line', 'Subject: hi'));
    assert.deepEqual(await dot(h), [dataline('Subject: hi'), dataline('.')]);
    assert.equal(reads, 0);
  });

  test('an accepted transaction is not held: lines are echoed as they come', () => {
    const h = new HostHarness(rules([chain('main', [{ action: accept, phase: 'mail-from' }, { action: policy(), phase: 'commit' }])], true), {
      services: reading(() => Promise.reject(new Error('must not read'))),
    });
    open(h);
    assert.deepEqual(h.feed(line.request('data-line', 'Subject: hi')), [dataline('Subject: hi')]);
    assert.deepEqual(h.feed(line.request('data-line', '.')), [dataline('.')]);
  });
});

describe('message hold: sessions that end', () => {
  test('a disconnect before the dot: the held lines go back (no dot: the client sent none), nothing after', () => {
    const h = new HostHarness(commitRules(), { services: reading(() => Promise.resolve(proceedReading())) });
    open(h);
    h.feed(line.request('data-line', 'Subject: hi'));
    h.feed(line.request('data-line', 'body'));
    assert.deepEqual(h.feed(line.disconnect()), [dataline('Subject: hi'), dataline('body')]);
    assert.equal(h.host.stats().sessions, 0);
  });

  test('a disconnect while reading: the reading is aborted, the lines and the dot go back once', async () => {
    let signal: AbortSignal | null = null;
    const h = new HostHarness(commitRules(), {
      services: reading((ctx) => {
        signal = ctx.signal;
        return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
      }),
    });
    open(h);
    h.feed(line.request('data-line', 'Subject: hi'));
    assert.deepEqual(h.feed(line.request('data-line', '.')), []);
    assert.deepEqual(h.feed(line.disconnect()), [dataline('Subject: hi'), dataline('.')]);
    assert.equal((signal as AbortSignal | null)?.aborted, true);
    assert.deepEqual(await h.advance(60_000), [], 'nothing more, not at the deadline either');
  });

  test('a reload while holding: the session keeps its plan and its hold', async () => {
    const h = new HostHarness(commitRules(), { services: reading(() => Promise.resolve(proceedReading([{ type: 'append', field: field('X-A', 'b') }]))) });
    open(h);
    h.feed(line.request('data-line', 'Subject: hi'));
    const reloaded = h.host.swapRules(rules([chain('main', [])], true));
    assert.ok(reloaded.ok);
    h.feed(line.request('data-line', ''));
    assert.deepEqual(await dot(h), [dataline('Subject: hi'), dataline('X-A: b'), dataline(''), dataline('.')]);
  });
});

describe('message hold: a message that cannot be read back', () => {
  test('lines lost to a spool read error: the dot still goes back once, and the hold says damaged', () => {
    const written: string[] = [];
    const writer = new ProtocolWriter({
      sink: { write: (c) => (written.push(...String(c).split('\n').filter(Boolean)), true), once: () => undefined },
      log: silentLogger,
      schedule: (fn) => fn(),
    });
    const failing = (): Spool => ({
      append: () => {},
      readAt: () => {
        throw new Error('EIO');
      },
      close: () => {},
    });
    const plan = buildPlan(commitRules(), null, 1, {
      log: silentLogger,
      services: reading(() => Promise.resolve(proceedReading())),
      timings: DEFAULT_TIMINGS,
    });
    assert.ok(plan.ok);
    const log = new RecordingLogger();
    const hold = new MessageHold(SID, 'aaaaaaaaaaaaaaaa', plan.value.messageSteps, {
      writer,
      clock: new FakeClock(),
      log,
      buffer: { memoryCap: 0, openSpool: failing },
    });
    hold.push('Subject: hi', 'utf8');
    hold.push('', 'utf8');
    hold.push('body', 'utf8');
    let damaged: boolean | null = null;
    hold.end('bbbbbbbbbbbbbbbb', { ...factsOf() }, (_, d) => (damaged = d));
    return settle().then(() => {
      assert.equal(damaged, true);
      assert.deepEqual(written.at(-1), `filter-dataline|${SID}|bbbbbbbbbbbbbbbb|.`);
      assert.equal(written.filter((w) => w.endsWith('|.')).length, 1);
      assert.ok(log.records.some((r) => r.msg === 'held message could not be read back; its commit will be tempfailed'));
    });
  });
});

function factsOf() {
  return {
    sessionId: 's1',
    src: '192.0.2.1',
    srcPort: 1,
    dest: '',
    destPort: null,
    local: false,
    rdns: null,
    fcrdns: null,
    helo: null,
    heloMethod: null,
    mailFrom: 'a@x',
    rcptTo: null,
    recipients: ['b@x'],
    messageId: null,
    authUser: null,
    tls: null,
    size: 10,
  } as const;
}
