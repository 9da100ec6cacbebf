/**
 * Every diagnostic code the rules language can produce. Codes are stable:
 * people search for them and grammar/REFERENCE.md documents each one (a unit
 * test keeps the two in step). Never renumber; retire codes instead.
 */
import type { Severity } from './diagnostics.js';

export interface CodeInfo {
  readonly severity: Severity;
  readonly title: string;
}

export const CODES = {
  // a bug of ours, not of the rules: the syntax tree has a piece to-ast has no reader for
  E000: { severity: 'error', title: 'internal error in the rules compiler' },
  // lexing and parsing
  E001: { severity: 'error', title: 'unexpected character' },
  E002: { severity: 'error', title: 'unterminated string' },
  E003: { severity: 'error', title: 'unterminated regex' },
  E004: { severity: 'error', title: 'syntax error' },
  E005: { severity: 'error', title: 'unclosed `{`' },
  E006: { severity: 'error', title: 'invalid escape in a string' },
  E007: { severity: 'error', title: 'no chain in the file' },
  E008: { severity: 'error', title: 'rules file cannot be read' },
  E009: { severity: 'error', title: 'condition nested too deeply' },
  // names and lists
  E010: { severity: 'error', title: 'undefined list' },
  E011: { severity: 'error', title: 'list defined twice' },
  E012: { severity: 'error', title: 'chain defined twice' },
  E013: { severity: 'error', title: 'list file cannot be read' },
  E014: { severity: 'error', title: 'malformed list item' },
  E015: { severity: 'error', title: 'list item does not fit how the list is used' },
  // values
  E020: { severity: 'error', title: 'invalid duration' },
  E021: { severity: 'error', title: 'duration out of range' },
  E022: { severity: 'error', title: 'invalid number' },
  E023: { severity: 'error', title: 'number out of range' },
  E024: { severity: 'error', title: 'invalid policy server address' },
  E025: { severity: 'error', title: 'invalid greylist store' },
  E026: { severity: 'error', title: 'greylist delay not shorter than its retry window' },
  // replies
  E030: { severity: 'error', title: 'invalid SMTP reply' },
  E031: { severity: 'error', title: 'forbidden character in an SMTP reply' },
  E032: { severity: 'error', title: 'SMTP reply too long' },
  // steps and phases
  E040: { severity: 'error', title: 'junk at commit' },
  E041: { severity: 'error', title: '`at` phase earlier than the step can run' },
  E042: { severity: 'error', title: 'step kind not allowed at this phase' },
  E043: { severity: 'error', title: 'option does not apply to this step' },
  E044: { severity: 'error', title: 'option given twice' },
  E045: { severity: 'error', title: 'condition does not apply to this field' },
  E046: { severity: 'error', title: '`pregreet` on a pause that does not run at connect' },
  // regexes
  E050: { severity: 'error', title: 'regex not supported or invalid' },
  E051: { severity: 'error', title: 'unknown regex flag' },
  // warnings
  W001: { severity: 'warning', title: 'unused list' },
  W002: { severity: 'warning', title: 'empty list' },
  W003: { severity: 'warning', title: 'address range has host bits set' },
  W004: { severity: 'warning', title: '421 in a reject' },
  W005: { severity: 'warning', title: 'reject at connect compiled as disconnect' },
  W006: { severity: 'warning', title: 'non-ASCII text in an SMTP reply' },
  W007: { severity: 'warning', title: 'step can never run' },
  W008: { severity: 'warning', title: 'rules need message lines; smtpd restart required' },
  W009: { severity: 'warning', title: '`pregreet` in a chain for an smtps (implicit TLS) listener' },
  // files (the rules file or a list file), refused before their content is used
  E060: { severity: 'error', title: 'not a regular file' },
  E061: { severity: 'error', title: 'file too large' },
  E062: { severity: 'error', title: 'rules file not UTF-8' },
  // DNS lists (issue 12)
  E070: { severity: 'error', title: 'invalid DNS list' },
  E071: { severity: 'error', title: 'invalid DNS list name' },
  E072: { severity: 'error', title: 'invalid resolver address' },
  W020: { severity: 'warning', title: 'a DNS list zone that may hold a secret key, without a name' },
  // the compare form of a condition, and scores (issue 12)
  E073: { severity: 'error', title: 'compare on a field that is not a number' },
  E074: { severity: 'error', title: 'invalid number in a compare' },
  E075: { severity: 'error', title: 'invalid score points' },
  E076: { severity: 'error', title: 'invalid score label' },
  E077: { severity: 'error', title: '`score-header` at commit' },
  E078: { severity: 'error', title: 'a DNS list lookup before its name is known' },
  // rspamd (issue 15)
  E095: { severity: 'error', title: 'invalid rspamd URL' },
  E096: { severity: 'error', title: 'invalid rspamd settings id' },
  // SPF, DKIM, DMARC (issue 14)
  E105: { severity: 'error', title: 'not a result the field can have' },
  W040: { severity: 'warning', title: 'a condition on a result no step before it gives' },
  W041: { severity: 'warning', title: '`spf-helo` without `check-helo`' },
  E106: { severity: 'error', title: '`dkim-sign` without its domain, selector or key' },
  E107: { severity: 'error', title: 'invalid DKIM signing domain' },
  E108: { severity: 'error', title: 'invalid DKIM selector' },
  E109: { severity: 'error', title: 'invalid DKIM key file name' },
  E110: { severity: 'error', title: 'cannot read the DKIM key file' },
  E111: { severity: 'error', title: 'the DKIM key is not a key the algorithm signs with' },
  // rate and concurrency limits (issue 13)
  E085: { severity: 'error', title: 'invalid limit rate' },
  E086: { severity: 'error', title: 'invalid limit key' },
  E087: { severity: 'error', title: 'invalid counter store' },
  E088: { severity: 'error', title: 'a limit that cannot count this at this phase' },
  E089: { severity: 'error', title: 'a limit key part not known at the limit\'s phase' },
  E090: { severity: 'error', title: 'a limit rate that cannot be counted exactly' },
  E091: { severity: 'error', title: 'a limit reply that is not a 4xx' },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CODES;
