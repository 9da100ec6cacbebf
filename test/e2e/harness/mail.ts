/**
 * Building blocks for test conversations: the usual command sequence and a small
 * RFC 5322 message with a unique marker, so each test finds its own delivery.
 */
import { randomBytes } from 'node:crypto';
import type { DialogResult, DialogStep, Exchange } from './dialog.js';
import { replyText } from './dialog.js';
import { MAIL_USER } from './env.js';

export const RECIPIENT = `${MAIL_USER}@localhost`;

/** A unique token to put in a Subject and find the delivered file by. */
export function marker(label: string): string {
  return `${label}-${randomBytes(6).toString('hex')}`;
}

export interface MessageSpec {
  readonly from: string;
  readonly to?: string;
  readonly subject: string;
  readonly body: string;
}

/** Header + body with CRLF-free `\n` lines; smtp-client adds CRLF and dot-stuffing. */
export function buildMessage(spec: MessageSpec): string {
  return [
    `From: <${spec.from}>`,
    `To: <${spec.to ?? RECIPIENT}>`,
    `Subject: ${spec.subject}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-Id: <${spec.subject}@e2e.test>`,
    '',
    spec.body,
    '',
  ].join('\n');
}

export interface MailSpec {
  readonly helo: string;
  readonly from: string;
  readonly to?: string;
  /** When absent: no DATA, the dialog ends after RCPT with QUIT. */
  readonly message?: string;
}

/** EHLO, MAIL, RCPT, [DATA, message], QUIT. */
export function mailSteps(spec: MailSpec): DialogStep[] {
  const steps: DialogStep[] = [
    { kind: 'command', line: `EHLO ${spec.helo}` },
    { kind: 'command', line: `MAIL FROM:<${spec.from}>` },
    { kind: 'command', line: `RCPT TO:<${spec.to ?? RECIPIENT}>` },
  ];
  if (spec.message !== undefined) {
    steps.push({ kind: 'command', line: 'DATA' }, { kind: 'message', text: spec.message });
  }
  steps.push({ kind: 'command', line: 'QUIT' });
  return steps;
}

/** The exchange whose command starts with `prefix` (case-insensitive). */
export function exchangeFor(result: DialogResult, prefix: string): Exchange | undefined {
  const p = prefix.toUpperCase();
  return result.exchanges.find((e) => e.sent.toUpperCase().startsWith(p));
}

/** A readable transcript for assertion messages. */
export function transcript(result: DialogResult): string {
  const out = [`connect ${result.connectMs} ms`, `banner @${result.banner?.at ?? '-'} ms: ${replyText(result.banner)}`];
  for (const e of result.exchanges) out.push(`> ${e.sent}`, `< @${e.reply?.at ?? '-'} ms: ${replyText(e.reply)}`);
  for (const u of result.unsolicited) out.push(`< (unsolicited) @${u.at} ms: ${replyText(u)}`);
  out.push(`closed by server: ${result.closedByServer} @${result.eofAt ?? '-'} ms; timed out: ${result.timedOut}; error: ${result.error ?? '-'}`);
  return out.join('\n');
}
