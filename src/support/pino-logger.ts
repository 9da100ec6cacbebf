/**
 * Production logging: pino writing JSON lines to stderr (fd 2), which smtpd
 * copies into the mail log prefixed with the filter's name. Synchronous
 * writes: a line is in the log before the filter can die, and log volume is
 * one line per non-trivial decision. Never stdout: stdout is the protocol.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { Logger } from './log.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export interface PinoLoggerOptions {
  readonly level: LogLevel;
  /** Default: fd 2, synchronous. Tests pass a stream. */
  readonly destination?: DestinationStream;
}

export function createPinoLogger(options: PinoLoggerOptions): Logger {
  const destination = options.destination ?? pino.destination({ dest: 2, sync: true });
  const logger = pino(
    {
      level: options.level,
      // No pid/hostname: syslog already says where a line comes from. null is
      // pino's documented "no base" (undefined did the same, untyped).
      base: null,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level names, not numbers: people read these lines in the mail log.
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return wrap(logger);
}

function wrap(p: PinoLogger): Logger {
  return {
    debug: (obj, msg) => p.debug(obj, msg),
    info: (obj, msg) => p.info(obj, msg),
    warn: (obj, msg) => p.warn(obj, msg),
    error: (obj, msg) => p.error(obj, msg),
    child: (bindings) => wrap(p.child(bindings)),
  };
}
