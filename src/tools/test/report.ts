/**
 * The `filter-rules test` report as text: the session, a table of every step
 * of every phase (where it is written, whether its condition held with the
 * values it read, what it did) and the outcome. Pure: simulate.ts collects
 * what it shows.
 */
import { shortRuleRef, stepText } from '../../model/describe.js';
import type { ExplainValue } from '../../conditions/fields.js';
import { printable, table, truncate } from '../text.js';
import type { StepRow, TestReport } from './simulate.js';

function valuesText(values: Readonly<Record<string, ExplainValue>> | null): string {
  if (values === null) return '';
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v === null ? '(none)' : Array.isArray(v) ? v.join(',') : printable(v as string)}`)
    .join(' ');
}

function conditionText(row: StepRow): string {
  switch (row.condition) {
    case 'none':
      return '(none)';
    case 'not reached':
      return '';
    case 'true':
    case 'false': {
      const values = valuesText(row.values);
      return values === '' ? row.condition : `${row.condition} (${truncate(values, 40)})`;
    }
  }
}

const STEP_WIDTH = 72;

export function formatTestReport(report: TestReport, sources: ReadonlyMap<string, string>): string {
  const s = report.session;
  const out: string[] = [];
  out.push(`filter-rules test: ${report.rulesFile}, chain "${report.chain}"`);
  out.push(
    `session: client ${s.src} (rdns ${s.rdns ?? 'none'}, fcrdns ${s.fcrdns}), EHLO ${printable(s.helo)}, ` +
      (s.tls === null ? '' : `STARTTLS (${printable(s.tls)}), EHLO again, `) +
      (s.authUser === null ? '' : `AUTH as ${printable(s.authUser)}, `) +
      `MAIL FROM <${printable(s.mailFrom)}>, RCPT TO ${s.rcptTo.map((r) => `<${printable(r)}>`).join(' ')}`,
  );
  out.push(
    report.mode === 'offline'
      ? 'policy servers and greylist stores: not asked (--offline); pauses: not waited'
      : 'policy servers and greylist stores: asked (greylisting records this triplet; --offline stubs them); pauses: not waited',
  );
  out.push('');
  const rows: string[][] = [['PHASE', 'STEP', 'CONDITION', 'RESULT']];
  for (const p of report.phases) {
    const label = truncate(p.param === null ? p.request : `${p.request} ${printable(p.param)}`, 32);
    let first = true;
    const phaseCell = (): string => {
      const cell = first ? label : '';
      first = false;
      return cell;
    };
    if (p.note !== null) rows.push([phaseCell(), truncate(`(${p.note})`, STEP_WIDTH), '', '']);
    for (const row of p.rows) {
      const step = truncate(`${shortRuleRef(row.step.span)} ${stepText(row.step, sources)}`, STEP_WIDTH);
      rows.push([phaseCell(), step, conditionText(row), row.condition === 'not reached' ? '(not reached)' : row.result]);
    }
    if (p.answer !== '') rows.push([phaseCell(), '=> answer to smtpd', '', p.answer]);
  }
  out.push(...table(rows));
  out.push('');
  out.push(`outcome: ${report.outcome}`);
  if (report.headersAdded.length > 0) out.push(`headers added: ${report.headersAdded.map(printable).join(' | ')}`);
  if (report.wouldHave > 0) out.push(`dry-run steps that would have acted: ${report.wouldHave}`);
  return `${out.join('\n')}\n`;
}
