/**
 * The logging surface every module takes as a dependency. pino's Logger
 * satisfies it structurally; tests pass `silentLogger` or a recording logger.
 * Logs go to stderr only: stdout belongs to the protocol.
 */
export interface LogFn {
  (obj: object, msg?: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

const noop: LogFn = () => {};

export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};

export interface LogRecord {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string | undefined;
  readonly fields: Record<string, unknown>;
}

/** A logger for tests: keeps every record, with child bindings merged in. */
export class RecordingLogger implements Logger {
  constructor(
    readonly records: LogRecord[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  private log(level: LogRecord['level'], obj: object, msg?: string): void {
    this.records.push({ level, msg, fields: { ...this.bindings, ...obj } });
  }
  debug: LogFn = (obj, msg) => this.log('debug', obj, msg);
  info: LogFn = (obj, msg) => this.log('info', obj, msg);
  warn: LogFn = (obj, msg) => this.log('warn', obj, msg);
  error: LogFn = (obj, msg) => this.log('error', obj, msg);
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.records, { ...this.bindings, ...bindings });
  }
}
