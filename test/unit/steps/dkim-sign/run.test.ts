/**
 * dkim-sign, from the rules to a signed message: the key is read through the
 * injected readFile at compile (an unreadable or wrong key is a located
 * error), the runner signs a held message and asks for the DKIM-Signature at
 * the top, and mailauth's verifier, given the public keys as DNS would,
 * finds every signature good (RSA and Ed25519 together); a changed body
 * fails them. Keys are made fresh by node:crypto (keys.ts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { compileRulesSource, type CompileResult } from '../../../../src/dsl/index.js';
import { MessageBuffer } from '../../../../src/message/buffer.js';
import type { HeaderEdit } from '../../../../src/model/message.js';
import type { CompiledRules, SessionFacts, StepOf } from '../../../../src/model/plan.js';
import type { MessageContext } from '../../../../src/model/runner.js';
import { dkimSignService } from '../../../../src/steps/dkim-sign/run.js';
import { FakeClock } from '../../../../src/support/clock.js';
import { ed25519Key, rsaKey } from './keys.js';

const RSA = rsaKey();
const ED = ed25519Key();

const FILES = new Map<string, string>([
  ['/etc/filter-rules/rsa.key', RSA.pem],
  ['/etc/filter-rules/ed.key', ED.pem],
  ['/etc/filter-rules/short.key', rsaKey(512).pem],
  ['/etc/filter-rules/junk.key', 'not a key\n'],
]);

function readFile(path: string): string {
  const text = FILES.get(path);
  if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
  return text;
}

const compile = (text: string): CompileResult => compileRulesSource(text, '/etc/filter-rules/test.rules', { readFile });

function compiled(text: string): CompiledRules {
  const r = compile(text);
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'));
  return r.rules;
}

function codes(text: string): string[] {
  const r = compile(text);
  return r.ok ? [] : r.diagnostics.map((d) => `${d.code}@${d.span.line}:${d.span.column}`);
}

const MESSAGE = ['From: Alice <alice@example.org>', 'To: bob@example.net', 'Subject: signed', 'Date: Fri, 04 Dec 2026 20:00:00 +0000', 'Message-ID: <1@example.org>', '', 'Hello Bob,', '..a line that was dot-stuffed', '', 'Alice'];

function held(): MessageBuffer {
  const m = new MessageBuffer();
  for (const l of MESSAGE) m.push(l);
  m.end();
  return m;
}

const FACTS = { sessionId: 's' } as SessionFacts;

async function sign(rules: CompiledRules): Promise<string> {
  const service = dkimSignService.createService({} as never);
  const steps = [...rules.chains.values()].flatMap((c) => c.steps).filter((s): s is StepOf<'dkim-sign'> => s.action.kind === 'dkim-sign');
  const message = held();
  const edits: HeaderEdit[] = [];
  for (const step of steps) {
    const runner = service.factory(step);
    const ctx: MessageContext = { facts: FACTS, message, clock: new FakeClock(Date.UTC(2026, 11, 4, 20, 0, 0)), signal: new AbortController().signal };
    const reading = await runner.readMessage?.(ctx);
    assert.ok(reading !== undefined);
    assert.equal(reading.outcome.type, 'continue');
    edits.push(...reading.edits);
  }
  const lines = [...message.outputLines(edits)].map((o) => o.line);
  message.dispose();
  // What smtpd queues: lines unstuffed, CRLF.
  return lines.map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\r\n') + '\r\n';
}

const TXT = new Map([
  ['rsa._domainkey.example.org', RSA.txt],
  ['ed._domainkey.example.org', ED.txt],
]);

async function verify(message: string): Promise<{ status: string; algo: string }[]> {
  const resolver = async (name: string, type: string): Promise<string[][]> => {
    const txt = TXT.get(name);
    if (type !== 'TXT' || txt === undefined) throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
    return [[txt]];
  };
  const result = await dkimVerify(message, { resolver } as never);
  return result.results.map((r) => ({ status: String(r.status.result), algo: String((r as { algo?: unknown }).algo ?? '') }));
}

const RSA_STEP = 'dkim-sign domain "example.org" selector "rsa" key "rsa.key"';
const ED_STEP = 'dkim-sign domain "Example.ORG" selector "ed" key "/etc/filter-rules/ed.key" algorithm ed25519-sha256';

describe('dkim-sign', () => {
  test('an RSA signature at the top of the header, which mailauth verifies', async () => {
    const rules = compiled(`chain submission =\n    ${RSA_STEP}\n`);
    assert.equal(rules.needsDataLine, true);
    const signed = await sign(rules);
    assert.match(signed, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.org;/);
    assert.ok(signed.includes('\r\nFrom: Alice <alice@example.org>\r\n'));
    assert.deepEqual(await verify(signed), [{ status: 'pass', algo: 'rsa-sha256' }]);
  });

  test('two steps give two signatures, RSA and Ed25519, both good; a changed body fails both', async () => {
    const signed = await sign(compiled(`chain submission =\n    ${RSA_STEP}\n    then ${ED_STEP}\n`));
    assert.equal(signed.match(/^DKIM-Signature:/gm)?.length, 2);
    const results = await verify(signed);
    assert.deepEqual(results.map((r) => r.status), ['pass', 'pass']);
    assert.deepEqual(results.map((r) => r.algo).sort(), ['ed25519-sha256', 'rsa-sha256']);
    const tampered = signed.replace('Hello Bob', 'Hello Eve');
    const broken = await verify(tampered);
    assert.equal(broken.length, 2);
    assert.ok(broken.every((r) => r.status !== 'pass'), JSON.stringify(broken));
  });

  test('the key is named, never shown: the step text has the path and the public key digest', () => {
    const rules = compiled(`chain submission =\n    ${RSA_STEP}\n`);
    const step = [...rules.chains.values()][0]?.steps[0];
    assert.ok(step !== undefined);
    assert.match(step.text, /^dkim-sign domain "example\.org" selector "rsa" key "rsa\.key" algorithm rsa-sha256 \(key sha256 [A-Za-z0-9+/=]{44}\)$/);
    assert.ok(!JSON.stringify(step.action).includes('PRIVATE KEY'));
    assert.ok(rules.files.includes('/etc/filter-rules/rsa.key'), 'the key file is watched for reloads');
  });

  test('mistakes are located errors: E106 missing names, E107, E108, E110 unreadable, E111 wrong key', () => {
    assert.deepEqual(codes('chain c =\n    dkim-sign domain "example.org" key "rsa.key"\n'), ['E106@2:5']);
    assert.deepEqual(codes('chain c =\n    dkim-sign domain "example" selector "s" key "rsa.key"\n'), ['E107@2:22']);
    assert.deepEqual(codes('chain c =\n    dkim-sign domain "example.org" selector "a_b" key "rsa.key"\n'), ['E108@2:45']);
    assert.deepEqual(codes('chain c =\n    dkim-sign domain "example.org" selector "s" key "missing.key"\n'), ['E110@2:53']);
    assert.deepEqual(codes('chain c =\n    dkim-sign domain "example.org" selector "s" key "junk.key"\n'), ['E111@2:53']);
    assert.deepEqual(codes('chain c =\n    dkim-sign domain "example.org" selector "s" key "short.key"\n'), ['E111@2:53']);
    assert.deepEqual(codes('chain c =\n    dkim-sign domain "example.org" selector "s" key "ed.key"\n'), ['E111@2:53']);
    assert.deepEqual(codes('chain c =\n    dkim-sign domain "example.org" selector "s" key "rsa.key" algorithm ed25519-sha256\n'), ['E111@2:53']);
    const r = compile('chain c =\n    dkim-sign domain "example.org" selector "s" key "missing.key"\n');
    assert.ok(!r.ok && r.files.includes('/etc/filter-rules/missing.key'), 'a missing key is watched, so it coming back is a reload');
  });

  test('before commit is E042', () => {
    assert.deepEqual(codes(`chain c =\n    ${RSA_STEP} at data\n`).map((c) => c.split('@')[0]), ['E042']);
  });
});
