import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatOutput } from '../../../src/protocol/format.js';
import { HandshakeCollector, registrationFor, registrationLines } from '../../../src/protocol/handshake.js';
import { parseInputLine } from '../../../src/protocol/parse.js';
import { isFilterPhase, isReportEventName } from '../../../src/model/phases.js';

function collect(lines: string[]): HandshakeCollector {
  const c = new HandshakeCollector();
  for (const l of lines) {
    const p = parseInputLine(l);
    assert.ok(p.ok && p.value.kind === 'config', l);
    if (p.ok && p.value.kind === 'config') c.add(p.value);
  }
  return c;
}

describe('handshake', () => {
  test('smtpd 6.8.0p2 (protocol.md §2.1, verbatim): no protocol key, learned later', () => {
    const c = collect(['config|smtpd-version|6.8.0p2', 'config|smtp-session-timeout|300', 'config|subsystem|smtp-in', 'config|admd|vm']);
    assert.deepEqual(c.result(), {
      smtpdVersion: '6.8.0p2',
      protocol: null,
      subsystems: ['smtp-in'],
      admd: 'vm',
      sessionTimeoutSeconds: 300,
      unknownKeys: [],
    });
  });

  test('smtpd 7.6+: config|protocol|0.7, both subsystems, an unknown key', () => {
    const c = collect([
      'config|smtpd-version|7.6.0',
      'config|protocol|0.7',
      'config|smtp-session-timeout|300',
      'config|subsystem|smtp-in',
      'config|subsystem|smtp-out',
      'config|admd|mx.example.org',
      'config|shiny-new-key|1',
    ]);
    const r = c.result();
    assert.equal(r.protocol, '0.7');
    assert.deepEqual(r.subsystems, ['smtp-in', 'smtp-out']);
    assert.deepEqual(r.unknownKeys, ['shiny-new-key']);
  });

  test('registers the seven rule phases always, data-line only when needed, smtp-in only, ready last', () => {
    const without = registrationLines(registrationFor(false)).map((o) => {
      const f = formatOutput(o);
      assert.ok(f.ok);
      return f.ok ? f.value : '';
    });
    assert.equal(without.at(-1), 'register|ready');
    assert.equal(without.filter((l) => l === 'register|ready').length, 1);
    const filters = without.filter((l) => l.startsWith('register|filter|')).map((l) => l.split('|')[3]);
    assert.deepEqual(filters, ['connect', 'helo', 'ehlo', 'mail-from', 'rcpt-to', 'data', 'commit']);
    assert.ok(without.every((l) => l === 'register|ready' || l.startsWith('register|filter|smtp-in|') || l.startsWith('register|report|smtp-in|')));
    const events = without.filter((l) => l.startsWith('register|report|')).map((l) => l.split('|')[3]);
    for (const e of ['link-connect', 'link-disconnect', 'link-identify', 'tx-mail', 'tx-rcpt', 'tx-reset', 'protocol-server']) {
      assert.ok(events.includes(e), e);
    }
    assert.ok(!without.some((l) => l.includes('smtp-out')));

    const withData = registrationFor(true);
    assert.ok(withData.filters.includes('data-line'));
    assert.ok(!registrationFor(false).filters.includes('data-line'));
  });

  test('every registered name is one smtpd knows (an unknown one makes smtpd exit)', () => {
    const reg = registrationFor(true);
    assert.ok(reg.filters.every(isFilterPhase));
    assert.ok(reg.reports.every(isReportEventName));
  });
});
