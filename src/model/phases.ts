/**
 * Names smtpd knows. Registering any other name makes smtpd exit at startup
 * (lka_filter.c: fatalx "Unrecognized report name"), so these lists are the
 * only source of names we ever send in a `register|` line.
 */

/** Filter phases accepted by smtpd 6.8 and 7.x (`filter_execs[]`). */
export const FILTER_PHASES = [
  'connect',
  'helo',
  'ehlo',
  'starttls',
  'auth',
  'mail-from',
  'rcpt-to',
  'data',
  'data-line',
  'rset',
  'quit',
  'noop',
  'help',
  'wiz',
  'commit',
] as const;
export type FilterPhase = (typeof FILTER_PHASES)[number];

/** Report events accepted by smtpd 6.8 and 7.x (`smtp_events[]`). 6.8 says `tx-mail`, not `tx-mailfrom`. */
export const REPORT_EVENTS = [
  'link-connect',
  'link-disconnect',
  'link-greeting',
  'link-identify',
  'link-tls',
  'link-auth',
  'tx-reset',
  'tx-begin',
  'tx-mail',
  'tx-rcpt',
  'tx-envelope',
  'tx-data',
  'tx-commit',
  'tx-rollback',
  'protocol-client',
  'protocol-server',
  'filter-report',
  'filter-response',
  'timeout',
] as const;
export type ReportEventName = (typeof REPORT_EVENTS)[number];

// Sets: isFilterPhase runs for every request line.
const FILTER_PHASE_SET: ReadonlySet<string> = new Set(FILTER_PHASES);
const REPORT_EVENT_SET: ReadonlySet<string> = new Set(REPORT_EVENTS);

export function isFilterPhase(name: string): name is FilterPhase {
  return FILTER_PHASE_SET.has(name);
}

export function isReportEventName(name: string): name is ReportEventName {
  return REPORT_EVENT_SET.has(name);
}

/**
 * Phases of the rules language. `helo` covers both the `helo` and `ehlo`
 * filter requests. Ordered: a step may be moved later (`at PHASE`), never earlier.
 */
export const RULE_PHASES = ['connect', 'helo', 'mail-from', 'rcpt-to', 'data', 'commit'] as const;
export type RulePhase = (typeof RULE_PHASES)[number];

export function rulePhaseOrder(phase: RulePhase): number {
  return RULE_PHASES.indexOf(phase);
}

/** Phase order, for placing steps: `at PHASE` may move a step later, never earlier. */
export const later = (a: RulePhase, b: RulePhase): RulePhase => (rulePhaseOrder(a) >= rulePhaseOrder(b) ? a : b);
export const isEarlier = (a: RulePhase, b: RulePhase): boolean => rulePhaseOrder(a) < rulePhaseOrder(b);

/** The rule phase a filter request belongs to, or null when rules never run there. */
export function rulePhaseOfRequest(phase: FilterPhase): RulePhase | null {
  switch (phase) {
    case 'connect':
      return 'connect';
    case 'helo':
    case 'ehlo':
      return 'helo';
    case 'mail-from':
      return 'mail-from';
    case 'rcpt-to':
      return 'rcpt-to';
    case 'data':
      return 'data';
    case 'commit':
      return 'commit';
    case 'starttls':
    case 'auth':
    case 'data-line':
    case 'rset':
    case 'quit':
    case 'noop':
    case 'help':
    case 'wiz':
      return null;
  }
}

/** The filter requests a rule phase is registered as. */
export function filterPhasesOfRulePhase(phase: RulePhase): readonly FilterPhase[] {
  return phase === 'helo' ? ['helo', 'ehlo'] : [phase];
}
