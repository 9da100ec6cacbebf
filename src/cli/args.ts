/**
 * Command-line arguments → what to do. Pure: no process.*, no I/O, so every
 * form is unit-tested. Usage mistakes come back as messages.
 */
import { parseArgs } from 'node:util';
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../support/pino-logger.js';
import { err, ok, type Result } from '../support/result.js';

export type CliCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'check'; readonly rulesFile: string; readonly chain: string | null }
  | { readonly kind: 'run'; readonly rulesFile: string; readonly chain: string | null; readonly logLevel: LogLevel };

export const USAGE = `usage:
  filter-rules [--chain NAME] [--log-level LEVEL] RULES-FILE
      run as an OpenSMTPD filter (smtpd.conf: filter "rules" proc-exec "... RULES-FILE")
  filter-rules check [--chain NAME] RULES-FILE
      check a rules file; print every problem; exit 0 when it is valid
  filter-rules --help | --version

options:
  --chain NAME        the chain to run when the file defines several
  --log-level LEVEL   ${LOG_LEVELS.join(', ')} (default: info); logs go to stderr
`;

export function parseCliArgs(argv: readonly string[]): Result<CliCommand, string> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        chain: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (error) {
    return err(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help === true) return ok({ kind: 'help' });
  if (values.version === true) return ok({ kind: 'version' });

  const chain = values.chain ?? null;
  if (chain === '') return err('--chain needs a name');
  const isCheck = positionals[0] === 'check';
  const files = isCheck ? positionals.slice(1) : positionals;
  if (files.length === 0) return err('missing RULES-FILE');
  if (files.length > 1) return err(`one RULES-FILE expected, got ${files.length}: ${files.join(' ')}`);
  const rulesFile = files[0] as string;

  const level = values['log-level'] ?? 'info';
  if (!isLogLevel(level)) return err(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`);
  if (isCheck) return ok({ kind: 'check', rulesFile, chain });
  return ok({ kind: 'run', rulesFile, chain, logLevel: level });
}
