/**
 * `dkim-sign domain "D" selector "S" key "FILE" [algorithm rsa-sha256|ed25519-sha256]`:
 * signs the message at commit (issue 14, the submission chain). The runtime
 * holds the message (runtime/message-hold.ts); at the client's `.` the step
 * signs it, relaxed/relaxed, through mailauth, and puts the DKIM-Signature
 * at the top of the header. Several steps give several signatures (an RSA
 * and an Ed25519 one), each over the message as the client sent it
 * (DKIM-Signature is not among the fields signed).
 *
 * The key is read when the rules are compiled and on every reload (`loads`),
 * so an unreadable or wrong key is a located error in `check`, and a reload
 * with one keeps the running rules. What the pipeline and the runtime know
 * of it; the runner is run.ts. Pure (node:crypto parses the key).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { checkSigningKey, type DkimAlgorithm } from '../../model/dkim-key.js';
import type { CheckView, KindDefinition, OptionSpec, StepDefinition } from '../spec.js';

export interface DkimSignOptions {
  readonly domain: string;
  readonly selector: string;
  /** The key file as written (relative paths: to the rules file). */
  readonly keyPath: string;
  readonly algorithm: DkimAlgorithm;
  /** The key, parsed at compile: a KeyObject, so plans, logs and snapshots never hold its text. */
  readonly privateKey: KeyObject;
  /** SHA-256 of the public key (SPKI DER), base64: tells two keys of one path apart in the reload diff. */
  readonly keyFingerprint: string;
}

declare module '../../model/plan.js' {
  interface StepActions {
    'dkim-sign': { readonly options: DkimSignOptions };
  }
}

const domain = {
  name: 'domain',
  type: 'signing-domain',
  default: null,
  what: 'the signing domain',
  docName: '"DOMAIN"',
  example: '"example.org"',
  doc: { allowed: 'a DNS name, without a trailing dot (E107)', meaning: 'the signing domain (`d=`); required' },
} as const satisfies OptionSpec<'signing-domain'>;

const selector = {
  name: 'selector',
  type: 'dkim-selector',
  default: null,
  what: 'the selector',
  docName: '"SELECTOR"',
  example: '"mail2026"',
  doc: { allowed: 'DNS labels (E108)', meaning: 'the selector (`s=`): the public key is published at `SELECTOR._domainkey.DOMAIN`; required' },
} as const satisfies OptionSpec<'dkim-selector'>;

const key = {
  name: 'key',
  type: 'key-file',
  default: null,
  what: 'the key file',
  docName: '"FILE"',
  example: '"dkim/example.key"',
  doc: { allowed: 'a PEM private key file, relative to the rules file (E109–E111)', meaning: 'the private key, read at start and on every reload; required' },
} as const satisfies OptionSpec<'key-file'>;

const algorithm = {
  name: 'algorithm',
  type: 'choice',
  choices: [
    { word: 'rsa-sha256', reply: false },
    { word: 'ed25519-sha256', reply: false },
  ],
  default: null,
  what: 'the signing algorithm',
  docName: 'rsa-sha256 | ed25519-sha256',
  example: 'rsa-sha256',
  doc: { allowed: '`rsa-sha256` (an RSA key of 1024 bits or more) or `ed25519-sha256` (an Ed25519 key) (E111)', meaning: 'the signature’s algorithm (`a=`); default `rsa-sha256`' },
} as const satisfies OptionSpec<'choice'>;

const options = { domain, selector, key, algorithm } as const;

const algorithmOf = (view: CheckView): DkimAlgorithm => (view.value(algorithm)?.word === 'ed25519-sha256' ? 'ed25519-sha256' : 'rsa-sha256');

/** E106: the three options a signature cannot be made without. */
function requireNames(view: CheckView, report: Parameters<StepDefinition['checks'][number]>[1]): void {
  const missing = (['domain', 'selector', 'key'] as const).filter((name) => view.occurrences(name).length === 0);
  if (missing.length === 0) return;
  report('E106', view.actionSpan, `dkim-sign needs ${missing.map((m) => `\`${m}\``).join(', ')}`, {
    hint: 'dkim-sign domain "example.org" selector "mail2026" key "/etc/mail/dkim/mail2026.key"',
  });
}

function fingerprintOf(privateKey: KeyObject): string {
  return createHash('sha256').update(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })).digest('base64');
}

export const dkimSignStep = {
  keyword: 'dkim-sign',
  argument: null,
  options,
  phases: { earliest: 'commit', default: 'commit', why: 'it signs the whole message' },
  ends: null,
  decides: [],
  checks: [requireNames],
  loads: {
    option: 'key',
    what: 'the DKIM key',
    unreadable: 'E110',
    malformed: 'E111',
    check: (text, view) => checkSigningKey(text, algorithmOf(view)),
  },
  codes: ['E106'],
  // It adds a header to the held message.
  needsDataLine: () => true,
  compile: ({ options: o, loaded }) => {
    const algo: DkimAlgorithm = o.algorithm?.word === 'ed25519-sha256' ? 'ed25519-sha256' : 'rsa-sha256';
    if (o.domain === undefined || o.selector === undefined || o.key === undefined || loaded === null) throw new Error('bug: dkim-sign compiled without its domain, selector or key (E106)');
    const checked = checkSigningKey(loaded, algo);
    if (!checked.ok) throw new Error('bug: dkim-sign compiled with a key its check refused (E111)');
    return {
      kind: 'dkim-sign',
      options: {
        domain: o.domain,
        selector: o.selector,
        keyPath: o.key,
        algorithm: algo,
        privateKey: checked.key,
        keyFingerprint: fingerprintOf(checked.key),
      },
    };
  },
  compiles: ['dkim-sign'],
} as const satisfies StepDefinition<null, typeof options, 'dkim-sign'>;

/** Signing a message in memory takes milliseconds; this bounds a 10 MB one on a slow machine. */
export const DKIM_SIGN_DEADLINE_MS = 30_000;

export const dkimSignKind: KindDefinition<'dkim-sign'> = {
  kind: 'dkim-sign',
  // At commit it answers from its reading at once; the signing is done at the `.` (readsMessage).
  timing: { mode: 'sync' },
  readsMessage: { deadlineMs: () => DKIM_SIGN_DEADLINE_MS },
  // A dry-run step signs all the same (the log says it would have); its header is not applied.
  dryRun: 'run',
  delaysClient: false,
  describe: {
    text: (a) => {
      const o = a.options;
      return `dkim-sign domain ${JSON.stringify(o.domain)} selector ${JSON.stringify(o.selector)} key ${JSON.stringify(o.keyPath)} algorithm ${o.algorithm} (key sha256 ${o.keyFingerprint})`;
    },
  },
};
