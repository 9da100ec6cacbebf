/**
 * dkim-sign against an independent verifier: messages our step signs (the
 * runner, from rules compiled with fresh RSA and Ed25519 keys) verify with
 * python3-dkim (dkimpy, dkimpy-oracle.py, the public keys given as the TXT
 * records DNS would serve); a message changed after signing does not.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileRulesSource } from '../../../src/dsl/index.js';
import { MessageBuffer } from '../../../src/message/buffer.js';
import type { HeaderEdit } from '../../../src/model/message.js';
import type { CompiledRules, SessionFacts, StepOf } from '../../../src/model/plan.js';
import { dkimSignService } from '../../../src/steps/dkim-sign/run.js';
import { systemClock } from '../../../src/support/clock.js';
import { ed25519Key, rsaKey } from '../../unit/steps/dkim-sign/keys.js';

const HERE = new URL('../../../../test/integration/auth/', import.meta.url).pathname;
const RSA = rsaKey();
const ED = ed25519Key();

const MESSAGE = [
  'From: Alice <alice@example.org>',
  'To: bob@example.net',
  'Subject: =?utf-8?q?sign=C3=A9?=',
  'Date: Fri, 04 Dec 2026 20:00:00 +0000',
  'Message-ID: <oracle@example.org>',
  'Received: from client (client [192.0.2.7])',
  '\tby mx.example.org',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello   Bob,  ',
  '..a line that was dot-stuffed',
  '',
  '',
];

function compiled(files: Map<string, string>): CompiledRules {
  const text = [
    'chain submission =',
    '    dkim-sign domain "example.org" selector "rsa" key "rsa.key"',
    '    then dkim-sign domain "example.org" selector "ed" key "ed.key" algorithm ed25519-sha256',
    '',
  ].join('\n');
  const readFile = (path: string): string => {
    const t = files.get(path);
    if (t === undefined) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
    return t;
  };
  const r = compileRulesSource(text, '/keys/test.rules', { readFile });
  assert.ok(r.ok);
  return r.rules;
}

async function signed(rules: CompiledRules, steps: number): Promise<string> {
  const service = dkimSignService.createService({} as never);
  const all = [...rules.chains.values()].flatMap((c) => c.steps).filter((s): s is StepOf<'dkim-sign'> => s.action.kind === 'dkim-sign');
  const message = new MessageBuffer();
  for (const l of MESSAGE) message.push(l);
  message.end();
  const edits: HeaderEdit[] = [];
  for (const step of all.slice(0, steps)) {
    const reading = await service.factory(step).readMessage?.({ facts: { sessionId: 's' } as SessionFacts, message, clock: systemClock, signal: new AbortController().signal });
    assert.ok(reading !== undefined);
    edits.push(...reading.edits);
  }
  const lines = [...message.outputLines(edits)].map((o) => o.line);
  message.dispose();
  return lines.map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\r\n') + '\r\n';
}

describe('dkim-sign against python3-dkim', () => {
  test('RSA, Ed25519 and both together verify with dkimpy; a changed body does not', async () => {
    const rules = compiled(new Map([['/keys/rsa.key', RSA.pem], ['/keys/ed.key', ED.pem]]));
    const dir = mkdtempSync(join(tmpdir(), 'dkim-oracle-'));
    try {
      const both = await signed(rules, 2);
      const messages = { rsa: await signed(rules, 1), both, tampered: both.replace('Hello   Bob', 'Hello Eve') };
      const paths = Object.entries(messages).map(([name, text]) => {
        const path = join(dir, `${name}.eml`);
        writeFileSync(path, text);
        return path;
      });
      const casePath = join(dir, 'case.json');
      writeFileSync(casePath, JSON.stringify({ records: { 'rsa._domainkey.example.org': RSA.txt, 'ed._domainkey.example.org': ED.txt }, messages: paths }));
      const r = spawnSync('/usr/bin/python3', [`${HERE}dkimpy-oracle.py`, casePath], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      const [rsa, two, tampered] = r.stdout.trim().split('\n');
      assert.equal(rsa, 'pass');
      assert.equal(two, 'pass pass');
      assert.ok(tampered !== undefined && !tampered.split(' ').includes('pass'), tampered);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
