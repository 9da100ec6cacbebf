import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCliArgs } from '../../../src/cli/args.js';

describe('parseCliArgs', () => {
  test('run mode', () => {
    assert.deepEqual(parseCliArgs(['/etc/mail/antispam.rules']), {
      ok: true,
      value: { kind: 'run', rulesFile: '/etc/mail/antispam.rules', chain: null, logLevel: 'info' },
    });
    assert.deepEqual(parseCliArgs(['--chain', 'inbound', '--log-level', 'debug', 'r.rules']), {
      ok: true,
      value: { kind: 'run', rulesFile: 'r.rules', chain: 'inbound', logLevel: 'debug' },
    });
    assert.deepEqual(parseCliArgs(['r.rules', '--chain=submission']), {
      ok: true,
      value: { kind: 'run', rulesFile: 'r.rules', chain: 'submission', logLevel: 'info' },
    });
  });

  test('check mode', () => {
    assert.deepEqual(parseCliArgs(['check', 'r.rules']), { ok: true, value: { kind: 'check', rulesFile: 'r.rules', chain: null } });
    assert.deepEqual(parseCliArgs(['check', '--chain', 'x', 'r.rules']), { ok: true, value: { kind: 'check', rulesFile: 'r.rules', chain: 'x' } });
    // A rules file really named "check" still works with a path.
    assert.equal(parseCliArgs(['./check']).ok && parseCliArgs(['./check']).ok, true);
  });

  test('--smtps-ports: the implicit-TLS listener ports of the running filter (absent: the default, 465)', () => {
    assert.deepEqual(parseCliArgs(['--smtps-ports', '10465,465', 'r.rules']), {
      ok: true,
      value: { kind: 'run', rulesFile: 'r.rules', chain: null, logLevel: 'info', smtpsPorts: [465, 10465] },
    });
    assert.deepEqual(parseCliArgs(['--smtps-ports=none', 'r.rules']), {
      ok: true,
      value: { kind: 'run', rulesFile: 'r.rules', chain: null, logLevel: 'info', smtpsPorts: [] },
    });
    const bad = parseCliArgs(['--smtps-ports', '465,smtps', 'r.rules']);
    assert.ok(!bad.ok && /"smtps" is not a port/.test(bad.error));
    const check = parseCliArgs(['check', '--smtps-ports', '465', 'r.rules']);
    assert.ok(!check.ok && /option of the running filter/.test(check.error));
  });

  test('help and version win over everything else', () => {
    assert.deepEqual(parseCliArgs(['--help']), { ok: true, value: { kind: 'help' } });
    assert.deepEqual(parseCliArgs(['-h', 'x']), { ok: true, value: { kind: 'help' } });
    assert.deepEqual(parseCliArgs(['--version']), { ok: true, value: { kind: 'version' } });
  });

  test('usage mistakes are messages', () => {
    const msg = (argv: string[]): string => {
      const r = parseCliArgs(argv);
      assert.equal(r.ok, false, argv.join(' '));
      return r.ok ? '' : r.error;
    };
    assert.match(msg([]), /missing RULES-FILE/);
    assert.match(msg(['check']), /missing RULES-FILE/);
    assert.match(msg(['a.rules', 'b.rules']), /one RULES-FILE/);
    assert.match(msg(['--log-level', 'loud', 'r']), /--log-level must be one of/);
    assert.match(msg(['--chain', '', 'r']), /--chain needs a name/);
    assert.match(msg(['--frobnicate', 'r']), /frobnicate/);
    assert.match(msg(['--chain']), /chain/);
  });
});
