// The filters being compared, as command lines (a string for the simulator,
// which runs it through /bin/sh like smtpd; an argv for smtpd.conf).
import { existsSync } from 'node:fs';
import { NAIVE_FILTER, OUR_FILTER } from './paths.mjs';

// smtpd runs the filter as `opensmtpd`, which cannot read a pyenv shim under /root.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** What the C and Python references register when ours cannot be asked. The brief's list. */
export const DEFAULT_REGISTRATION = {
  filter: ['connect', 'helo', 'ehlo', 'mail-from', 'rcpt-to', 'data', 'commit'],
  report: ['link-connect', 'link-disconnect', 'link-identify', 'tx-begin', 'tx-mail', 'tx-rcpt', 'tx-reset', 'tx-commit', 'tx-rollback', 'protocol-server'],
};

function registrationArgs(reg) {
  return ['--phases', reg.filter.join(',') || ',', '--events', reg.report.join(',') || ','];
}

export function oursArgv(rulesFile, chain) {
  return [process.execPath, OUR_FILTER, ...(chain ? ['--chain', chain] : []), rulesFile];
}

export function proceedArgv(bin, reg) {
  return [bin, ...registrationArgs(reg)];
}

export function naiveArgv(reg) {
  return [PYTHON, NAIVE_FILTER, ...registrationArgs(reg)];
}

/** argv → one /bin/sh command line (arguments quoted only when needed). */
export function shellLine(argv) {
  return argv.map((a) => (/^[A-Za-z0-9_./:=+@,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function oursBuilt() {
  return existsSync(OUR_FILTER);
}
