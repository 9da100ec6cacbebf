/**
 * Arguments of `filter-rules test` and `filter-rules replay` (after the
 * command word). Pure; mistakes come back as messages.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { parseTlsString } from '../model/tls.js';
import { err, ok, type Result } from '../support/result.js';
import { DEFAULT_SESSION, DEFAULT_TLS, type SyntheticSession } from './synthetic-session.js';

export interface TestCommand {
  readonly kind: 'test';
  readonly rulesFile: string;
  readonly chain: string | null;
  readonly session: SyntheticSession;
  /** Stub policy servers and greylist stores instead of asking them. */
  readonly offline: boolean;
}

export interface ReplayCommand {
  readonly kind: 'replay';
  readonly rulesFile: string;
  readonly chain: string | null;
  readonly transcripts: readonly string[];
  /** Compare the listing with this file (exit 1 on a difference). */
  readonly expect: string | null;
  /** Write the listing to the --expect file instead of comparing. */
  readonly updateExpect: boolean;
  /** Ask the real policy servers and greylist stores (default: offline, so a replay is repeatable). */
  readonly online: boolean;
}

function parse(argv: readonly string[], options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>) {
  try {
    return ok(parseArgs({ args: [...argv], allowPositionals: true, strict: true, options }));
  } catch (error) {
    return err(error instanceof Error ? error.message : String(error));
  }
}

function chainOption(value: unknown): Result<string | null, string> {
  if (value === undefined) return ok(null);
  if (typeof value !== 'string' || value === '') return err('--chain needs a name');
  return ok(value);
}

/** `mx.example.net`, `[192.0.2.1]`: anything printable without `|` or white space is what smtpd could pass on. */
function text(name: string, value: unknown, fallback: string): Result<string, string> {
  if (value === undefined) return ok(fallback);
  if (typeof value !== 'string' || value === '' || /[\s|\x00-\x1f\x7f]/.test(value)) return err(`--${name} needs a value without spaces or "|"`);
  return ok(value);
}

/** What smtpd's link-tls says: `VERSION:CIPHER:BITS`, printable, without `|`. */
function isTlsString(text: string): boolean {
  return !/[\s|\x00-\x1f\x7f]/.test(text) && parseTlsString(text) !== null;
}

/**
 * `--tls` takes an optional value, which parseArgs cannot say: a bare `--tls`
 * becomes `--tls=` the default, unless the next word is a TLS string
 * (`--tls TLSv1.2:ECDHE-RSA-AES128-GCM-SHA256:128`), which is its value.
 */
function tlsValueSpelledOut(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (arg !== '--tls') {
      out.push(arg);
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && isTlsString(next)) {
      out.push(`--tls=${next}`);
      i++;
    } else {
      out.push(`--tls=${DEFAULT_TLS}`);
    }
  }
  return out;
}

export function parseTestArgs(argv: readonly string[]): Result<TestCommand, string> {
  const parsed = parse(tlsValueSpelledOut(argv), {
    chain: { type: 'string' },
    src: { type: 'string' },
    rdns: { type: 'string' },
    'no-rdns': { type: 'boolean' },
    fcrdns: { type: 'string' },
    helo: { type: 'string' },
    'mail-from': { type: 'string' },
    'rcpt-to': { type: 'string', multiple: true },
    tls: { type: 'string' },
    'auth-user': { type: 'string' },
    offline: { type: 'boolean' },
  });
  if (!parsed.ok) return parsed;
  const { values, positionals } = parsed.value;
  if (positionals.length !== 1) return err(positionals.length === 0 ? 'missing RULES-FILE' : `one RULES-FILE expected, got ${positionals.join(' ')}`);
  const chain = chainOption(values.chain);
  if (!chain.ok) return chain;

  const src = typeof values.src === 'string' ? values.src : DEFAULT_SESSION.src;
  if (isIP(src) === 0) return err(`--src must be an IPv4 or IPv6 address, not "${src}"`);
  if (values['no-rdns'] === true && values.rdns !== undefined) return err('--rdns and --no-rdns contradict each other');
  const rdns = values['no-rdns'] === true ? ok(null) : text('rdns', values.rdns, DEFAULT_SESSION.rdns ?? '');
  if (!rdns.ok) return rdns;
  const fcrdns = values.fcrdns ?? (rdns.value === null ? 'fail' : 'pass');
  if (fcrdns !== 'pass' && fcrdns !== 'fail' && fcrdns !== 'error') return err(`--fcrdns must be pass, fail or error, not "${String(fcrdns)}"`);
  const helo = text('helo', values.helo, DEFAULT_SESSION.helo);
  if (!helo.ok) return helo;
  // The null sender is written `--mail-from ''`.
  const mailFrom = values['mail-from'] === '' ? ok('') : text('mail-from', values['mail-from'], DEFAULT_SESSION.mailFrom);
  if (!mailFrom.ok) return mailFrom;
  const rcpts: string[] = [];
  const given = values['rcpt-to'];
  for (const r of Array.isArray(given) ? given : [...DEFAULT_SESSION.rcptTo]) {
    const checked = text('rcpt-to', r, '');
    if (!checked.ok) return checked;
    rcpts.push(checked.value);
  }
  const tlsGiven = values.tls;
  if (tlsGiven !== undefined && (typeof tlsGiven !== 'string' || !isTlsString(tlsGiven))) {
    return err(`--tls takes VERSION:CIPHER:BITS as smtpd reports it (${DEFAULT_TLS}), not "${String(tlsGiven)}"`);
  }
  const authUser = values['auth-user'] === undefined ? ok(null) : text('auth-user', values['auth-user'], '');
  if (!authUser.ok) return authUser;
  // smtpd offers AUTH only after TLS (ADVERTISE_AUTH), so an authenticated client did STARTTLS first.
  const tls = tlsGiven ?? (authUser.value !== null ? DEFAULT_TLS : null);
  return ok({
    kind: 'test',
    rulesFile: positionals[0] as string,
    chain: chain.value,
    session: { src, rdns: rdns.value, fcrdns, helo: helo.value, mailFrom: mailFrom.value, rcptTo: rcpts, tls, authUser: authUser.value },
    offline: values.offline === true,
  });
}

export function parseReplayArgs(argv: readonly string[]): Result<ReplayCommand, string> {
  const parsed = parse(argv, {
    chain: { type: 'string' },
    expect: { type: 'string' },
    'update-expect': { type: 'boolean' },
    online: { type: 'boolean' },
  });
  if (!parsed.ok) return parsed;
  const { values, positionals } = parsed.value;
  if (positionals.length === 0) return err('missing RULES-FILE');
  if (positionals.length === 1) return err('missing TRANSCRIPT: give one or more recorded transcripts (see --record)');
  const chain = chainOption(values.chain);
  if (!chain.ok) return chain;
  const expect = typeof values.expect === 'string' && values.expect !== '' ? values.expect : null;
  if (values.expect !== undefined && expect === null) return err('--expect needs a file');
  const updateExpect = values['update-expect'] === true;
  if (updateExpect && expect === null) return err('--update-expect needs --expect FILE (the file to write)');
  return ok({
    kind: 'replay',
    rulesFile: positionals[0] as string,
    chain: chain.value,
    transcripts: positionals.slice(1),
    expect,
    updateExpect,
    online: values.online === true,
  });
}
