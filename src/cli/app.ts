/**
 * The filter-rules command, loaded by the entry (main.ts) once it has caught
 * the signals. With main.ts the only modules that touch process.*: this one
 * reads argv, wires stdin/stdout/stderr and the signals the entry relays, and
 * returns the exit status (main.ts exits with it).
 *
 * Run mode and bad rules: the filter EXITS (status 1, diagnostics on stderr)
 * when the rules do not compile at startup. smtpd then stops at startup too
 * ("lost processor"), and the admin sees the mistake in the mail log right
 * away, the same way `smtpd -n` refuses a broken smtpd.conf — better than a
 * filter that silently runs no rules. `filter-rules check FILE` finds the same
 * problems before a restart. Later, a bad reload keeps the running rules.
 *
 * Exit: at stdin EOF (smtpd shutting down), promptly, status 0.
 */
import { compileRulesFile, compileRulesFileAsync } from '../dsl/index.js';
import { startMetrics } from '../metrics/index.js';
import { chokidarWatcherFactory, startReloader, type Reloader } from '../reload/index.js';
import { FilterHost } from '../runtime/host.js';
import { Recorder } from '../runtime/recorder.js';
import { describeSteps } from '../runtime/plan.js';
import { selectChain } from '../model/select-chain.js';
import { runOnStreams } from '../runtime/stdio.js';
import { DEFAULT_SMTPS_PORTS } from '../steps/pause/implicit-tls.js';
import { createServices } from '../steps/services.js';
import { systemClock } from '../support/clock.js';
import { checkFileSafety } from '../support/file-safety.js';
import type { Logger } from '../support/log.js';
import { createPinoLogger } from '../support/pino-logger.js';
import { runReplayCommand, runTestCommand } from '../tools/commands.js';
import { GREYLIST_USAGE } from '../tools/greylist/args.js';
import { runGreylistAdmin } from '../tools/greylist/commands.js';
import { LIMITS_USAGE } from '../tools/limits/args.js';
import { runLimitsAdmin } from '../tools/limits/commands.js';
import { parseCliArgs, USAGE, type CliCommand } from './args.js';
import { loadRules, runCheck, type CliIo } from './commands.js';
import type { SignalRelay } from './main.js';
import { SignalResponder } from './signals.js';
import { packageVersion } from './version.js';

const io: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** Log and keep going: the filter must never exit on its own (smtpd would exit with it). */
function installCrashGuards(log: Logger): void {
  process.on('uncaughtException', (error) => {
    log.error({ err: error.stack ?? error.message }, 'uncaught exception (filter keeps running)');
  });
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) }, 'unhandled rejection (filter keeps running)');
  });
}

async function run(cmd: Extract<CliCommand, { kind: 'run' }>, relay: SignalRelay): Promise<number> {
  const log = createPinoLogger({ level: cmd.logLevel });
  installCrashGuards(log);
  // The entry caught the signals before anything loaded; from here on they are
  // logged, and SIGHUP reloads once the reloader exists (see signals.ts).
  const signals = new SignalResponder({ log, clock: systemClock });
  for (const u of relay.uncaught) {
    if (u.reason === 'absent') log.debug({ event: 'signal', signal: u.signal }, `${u.signal}: ${u.detail}`);
    else log.warn({ event: 'signal', signal: u.signal, err: u.detail }, `${u.signal} cannot be caught (${u.detail}): it has its default effect`);
  }
  relay.attach((signal, count) => signals.received(signal, count));
  const version = packageVersion();

  const loaded = loadRules(cmd.rulesFile, cmd.chain);
  if (!loaded.ok) {
    io.err(`${loaded.messages.join('\n\n')}\n`);
    io.err(`filter-rules: ${cmd.rulesFile}: not starting (fix the rules; \`filter-rules check\` shows the same)\n`);
    return 1;
  }
  for (const w of loaded.warnings) log.warn({ warning: w }, 'rules warning');
  // Rules files others can write are a way into the mail server: say so at every start.
  for (const w of checkFileSafety(loaded.rules.files)) log.warn({ file: w.path, mode: w.mode, problem: w.problem }, `${w.path}: ${w.message}`);

  // --record: never fatal; a file that cannot be opened or written is logged and skipped.
  const recorder = cmd.record === undefined ? null : Recorder.open({ path: cmd.record, log, clock: systemClock, version });
  // --metrics: off by default; a port that cannot be bound is logged, not fatal.
  let hostRef: FilterHost | null = null;
  let reloaderRef: Reloader | null = null;
  const metrics =
    cmd.metrics === undefined
      ? null
      : startMetrics({
          listen: cmd.metrics,
          chain: loaded.chain.name,
          version,
          log,
          sources: { sessions: () => hostRef?.stats().sessions ?? 0, reloads: () => reloaderRef?.stats.outcomes ?? {} },
        });
  // One service per step kind, for the life of the process: policy clients, greylist
  // stores, and the one socket-table watcher and pay-once memory of the pauses.
  const smtpsPorts = cmd.smtpsPorts === undefined ? undefined : new Set(cmd.smtpsPorts);
  const services = createServices({
    clock: systemClock,
    log,
    platform: process.platform,
    ...(smtpsPorts !== undefined ? { pause: { smtpsPorts } } : {}),
    ...(metrics !== null ? { events: { pause: metrics.metrics.pause, dnsLists: metrics.metrics.dnsLists } } : {}),
  });
  const created = FilterHost.create({
    rules: loaded.rules,
    chain: loaded.chain.name,
    output: recorder === null ? process.stdout : recorder.tee(process.stdout),
    log,
    services,
    // Metrics subscribe to the runtime's events: steps, decisions, sessions, and each kind's own series (step-metrics.ts).
    ...(metrics !== null ? { events: metrics.metrics } : {}),
    ...(smtpsPorts !== undefined ? { smtpsPorts } : {}),
  });
  if (!created.ok) {
    io.err(`filter-rules: ${cmd.rulesFile}: ${created.error}\n`);
    return 1;
  }
  const host = created.value;
  hostRef = host;
  log.info(
    {
      version,
      node: process.version,
      rulesFile: cmd.rulesFile,
      files: loaded.rules.files,
      chain: host.chain,
      steps: describeSteps(loaded.chain),
      smtpsPorts: [...(smtpsPorts ?? DEFAULT_SMTPS_PORTS)],
    },
    'filter-rules starting',
  );

  // Hot reload: the rules file and its list files are watched; SIGHUP forces a pass.
  // A bad file keeps the running rules. Chain selection is the host's, so a
  // reload refuses rules without the running chain in the same words as startup.
  const reloader = startReloader({
    rulesFile: cmd.rulesFile,
    initialRules: loaded.rules,
    // What startup compiled: an edit saved while starting is reloaded at once.
    initialSources: loaded.sources,
    // In slices: requests are answered while a big list file is compiled.
    compile: compileRulesFileAsync,
    selectChain: (rules) => selectChain(rules, host.chain),
    apply: (rules, chain) => {
      const swapped = host.swapRules(rules);
      if (!swapped.ok) throw new Error(swapped.error);
      metrics?.metrics.rulesApplied(chain);
    },
    clock: systemClock,
    log,
    watcherFactory: chokidarWatcherFactory,
    // Registration follows the startup rules (see protocol/handshake.ts) and cannot change later.
    dataLineRegistered: loaded.rules.needsDataLine,
  });
  signals.reloadWith((reason) => reloader.trigger(reason));
  reloaderRef = reloader;

  if (recorder !== null) process.stdin.on('data', (chunk: Buffer | string) => recorder.input(chunk));
  await runOnStreams(host, process.stdin, process.stdout);
  await recorder?.close();
  await metrics?.close();
  // Stop watching, but never let a stuck watcher delay the exit smtpd waits for.
  await Promise.race([reloader.close(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  return 0;
}

/** Runs the command in process.argv; resolves to the exit status. */
export async function runCli(relay: SignalRelay): Promise<number> {
  const parsed = parseCliArgs(process.argv.slice(2));
  // Only the filter outlives signals; a command someone runs stops on Control-C.
  if (!parsed.ok || parsed.value.kind !== 'run') relay.release();
  if (!parsed.ok) {
    io.err(`filter-rules: ${parsed.error}\n\n${process.argv[2] === 'greylist' ? GREYLIST_USAGE : process.argv[2] === 'limits' ? LIMITS_USAGE : USAGE}`);
    return 2;
  }
  const cmd = parsed.value;
  switch (cmd.kind) {
    case 'help':
      io.out(cmd.text ?? USAGE);
      return 0;
    case 'version':
      io.out(`filter-rules ${packageVersion()}\n`);
      return 0;
    case 'check': {
      // Also who else could change the rules (run mode logs the same at start).
      let files: readonly string[] = [cmd.rulesFile];
      try {
        files = compileRulesFile(cmd.rulesFile).files;
      } catch {
        // runCheck reports it
      }
      for (const w of checkFileSafety(files)) io.out(`${w.path}: warning: ${w.message}\n`);
      return runCheck(cmd.rulesFile, cmd.chain, io);
    }
    case 'run':
      return run(cmd, relay);
    case 'test':
    case 'replay': {
      // Compiled and chosen exactly as the filter does at startup.
      const loaded = loadRules(cmd.rulesFile, cmd.chain);
      if (!loaded.ok) {
        io.err(`${loaded.messages.join('\n\n')}\n`);
        return 1;
      }
      if (loaded.warnings.length > 0) io.err(`${loaded.warnings.join('\n\n')}\n\n`);
      const toolIo = { ...io, uid: typeof process.getuid === 'function' ? process.getuid() : null };
      const code = await (cmd.kind === 'test' ? runTestCommand(cmd, loaded, toolIo) : runReplayCommand(cmd, loaded, toolIo));
      // A pipe is written asynchronously: let a long listing out before process.exit.
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
      return code;
    }
    case 'greylist':
      return runGreylistAdmin(cmd, { io, clock: systemClock });
    case 'limits':
      return runLimitsAdmin(cmd, { io });
  }
}
