/**
 * Command-line arguments → what to do. Pure: no process.*, no I/O, so every
 * form is unit-tested. Usage mistakes come back as messages.
 */
import { parseArgs } from 'node:util';
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../support/pino-logger.js';
import { err, ok, type Result } from '../support/result.js';
import { parseSmtpsPorts } from '../steps/pause/implicit-tls.js';
import { parseListenAddress, type ListenAddress } from '../metrics/listen-address.js';
import { parseReplayArgs, parseTestArgs, type ReplayCommand, type TestCommand } from '../tools/args.js';
import { GREYLIST_USAGE, parseGreylistArgs, type GreylistCommand } from '../tools/greylist/args.js';
import { LIMITS_USAGE, parseLimitsArgs, type LimitsCommand } from '../tools/limits/args.js';

export type CliCommand =
  /** `text`: a command's own usage (default: USAGE). */
  | { readonly kind: 'help'; readonly text?: string }
  | { readonly kind: 'version' }
  | { readonly kind: 'check'; readonly rulesFile: string; readonly chain: string | null }
  | {
      readonly kind: 'run';
      readonly rulesFile: string;
      readonly chain: string | null;
      readonly logLevel: LogLevel;
      /** `--record FILE`: copy the conversation with smtpd there (absent: no recording). */
      readonly record?: string;
      /** `--metrics [HOST:]PORT`: serve Prometheus metrics there (absent: off). */
      readonly metrics?: ListenAddress;
      /** `--smtps-ports LIST`: listener ports with implicit TLS, sorted (absent: 465; empty: none). */
      readonly smtpsPorts?: readonly number[];
    }
  | TestCommand
  | ReplayCommand
  | GreylistCommand
  | LimitsCommand;

export const USAGE = `usage:
  filter-rules [--chain NAME] [--log-level LEVEL] [--record FILE] [--metrics [HOST:]PORT]
               [--smtps-ports PORTS] RULES-FILE
      run as an OpenSMTPD filter (smtpd.conf: filter "rules" proc-exec "... RULES-FILE")
  filter-rules check [--chain NAME] RULES-FILE
      check a rules file; print every problem; exit 0 when it is valid
  filter-rules test [--chain NAME] [SESSION OPTIONS] [--offline] RULES-FILE
      run one made-up SMTP session through the rules; show, phase by phase,
      which step decided what (pauses are not waited for)
  filter-rules replay [--chain NAME] [--expect FILE [--update-expect]] [--online] RULES-FILE TRANSCRIPT...
      feed recorded sessions (see --record) through the rules; list each decision
  filter-rules greylist list|delete|stats [--chain NAME] [--store URL] RULES-FILE [ARGS...]
      show or edit the built-in greylisting state (see \`filter-rules greylist --help\`)
  filter-rules limits list|reset [--store URL] RULES-FILE [KEY...]
      show or reset the limit steps' counters (see \`filter-rules limits --help\`)
  filter-rules --help | --version

options:
  --chain NAME        the chain to run when the file defines several
  --log-level LEVEL   ${LOG_LEVELS.join(', ')} (default: info); logs go to stderr
  --record FILE       append every line from and to smtpd to FILE (> and <), for replay;
                      FILE must be writable by smtpd's filter user; rotated to FILE.1 at 64 MiB
  --metrics [HOST:]PORT  serve Prometheus/OpenMetrics metrics at http://HOST:PORT/metrics
                      (HOST defaults to 127.0.0.1; a port that cannot be bound is logged, not fatal)
  --smtps-ports PORTS ports of smtpd's smtps (implicit TLS) listeners, comma-separated, or none
                      (default: 465): there the client speaks first (TLS), so pregreet does not
                      count its bytes as early talk

test session options (defaults: a well-behaved client):
  --src IP            client address (203.0.113.7)
  --rdns NAME | --no-rdns   reverse DNS name (mx.example.net) or none
  --fcrdns pass|fail|error  forward-confirmed reverse DNS (pass with a name, fail without)
  --helo NAME         EHLO argument (mx.example.net)
  --mail-from ADDR    envelope sender (a@example.net; '' for the null sender)
  --rcpt-to ADDR      a recipient (b@example.com); repeat for several
  --tls[=VERSION:CIPHER:BITS]  STARTTLS after the first EHLO, then EHLO again
                      (TLSv1.3:TLS_AES_256_GCM_SHA384:256)
  --auth-user NAME    AUTH as NAME after TLS, passed (implies --tls)
  --offline           do not ask policy servers and greylist stores (test asks them by default;
                      greylisting then records the test triplet)

replay options:
  --expect FILE       compare the decisions with FILE; exit 1 and show a diff when they differ
  --update-expect     write the decisions to the --expect FILE instead
  --online            ask policy servers and greylist stores (replay does not by default,
                      so it gives the same answers every time)
`;

export function parseCliArgs(argv: readonly string[]): Result<CliCommand, string> {
  // The tools have options of their own.
  if (argv[0] === 'greylist') {
    if (argv.includes('--help') || argv.includes('-h')) return ok({ kind: 'help', text: GREYLIST_USAGE });
    return parseGreylistArgs(argv.slice(1));
  }
  if (argv[0] === 'limits') {
    if (argv.includes('--help') || argv.includes('-h')) return ok({ kind: 'help', text: LIMITS_USAGE });
    return parseLimitsArgs(argv.slice(1));
  }
  if (argv[0] === 'test' || argv[0] === 'replay') {
    if (argv.includes('--help') || argv.includes('-h')) return ok({ kind: 'help' });
    return argv[0] === 'test' ? parseTestArgs(argv.slice(1)) : parseReplayArgs(argv.slice(1));
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        chain: { type: 'string' },
        'log-level': { type: 'string' },
        record: { type: 'string' },
        metrics: { type: 'string' },
        'smtps-ports': { type: 'string' },
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
  if (values.record !== undefined && (isCheck || values.record === '')) {
    return err(isCheck ? '--record is an option of the running filter, not of check' : '--record needs a file');
  }
  let metrics: ListenAddress | undefined;
  if (values.metrics !== undefined) {
    if (isCheck) return err('--metrics is an option of the running filter, not of check');
    const listen = parseListenAddress(values.metrics);
    if (!listen.ok) return err(listen.error);
    metrics = listen.value;
  }
  let smtpsPorts: readonly number[] | undefined;
  if (values['smtps-ports'] !== undefined) {
    if (isCheck) return err('--smtps-ports is an option of the running filter, not of check');
    const ports = parseSmtpsPorts(values['smtps-ports']);
    if (!ports.ok) return err(ports.error);
    smtpsPorts = ports.value;
  }
  if (isCheck) return ok({ kind: 'check', rulesFile, chain });
  return ok({
    kind: 'run',
    rulesFile,
    chain,
    logLevel: level,
    ...(values.record !== undefined ? { record: values.record } : {}),
    ...(metrics !== undefined ? { metrics } : {}),
    ...(smtpsPorts !== undefined ? { smtpsPorts } : {}),
  });
}
