// Runs bench/bin/smtpd-sim against a filter command and returns its JSON.
import { run } from './proc.mjs';

const FLAGS = {
  sessions: '--sessions',
  concurrency: '--concurrency',
  warmup: '--warmup',
  rcpts: '--rcpts',
  bodyLines: '--body-lines',
  thinkMs: '--think-ms',
  rampMs: '--ramp-ms',
  connectDueMs: '--connect-due-ms',
  deadlineMs: '--deadline-ms',
  durationMs: '--duration-ms',
  stallMs: '--stall-ms',
  handshakeMs: '--handshake-ms',
  lingerMs: '--linger-ms',
  idOffset: '--id-offset',
  seed: '--seed',
  protocol: '--protocol',
  user: '--user',
  ipv6Every: '--ipv6-every',
  filterLog: '--filter-log',
  reloadAtMs: '--reload-at-ms',
  reloadFrom: '--reload-from',
  reloadTo: '--reload-to',
  reloadDetect: '--reload-detect',
  reloadWindowMs: '--reload-window-ms',
};
const SWITCHES = { noData: '--no-data', handshakeOnly: '--handshake-only', keepGoing: '--keep-going', reloadWrite: '--reload-write' };

/** The sim's argument vector for `options` (pure; exported for tests). */
export function simArgs(filterCmd, options = {}) {
  const args = ['--filter', filterCmd, '--quiet'];
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined || v === null || v === false) continue;
    if (k in SWITCHES) args.push(SWITCHES[k]);
    else if (k in FLAGS) args.push(FLAGS[k], String(v));
    else throw new Error(`unknown sim option ${k}`);
  }
  return args;
}

/**
 * Run the simulator. Resolves { ok, result, exitCode, stderr, error }: `result`
 * is the sim's JSON (null if it printed none), `error` a one-line reason when
 * the run cannot be used.
 */
export async function runSim(simBin, filterCmd, options = {}, { timeoutMs } = {}) {
  const limit = timeoutMs ?? (options.deadlineMs ?? 300_000) + 30_000;
  const r = await run(simBin, simArgs(filterCmd, options), { timeoutMs: limit });
  let result = null;
  try {
    result = JSON.parse(r.stdout);
  } catch {
    /* reported below */
  }
  let error = null;
  if (r.timedOut) error = `simulator killed after ${Math.round(limit / 1000)} s`;
  else if (!result) error = `simulator printed no result (exit ${r.code ?? r.signal}): ${lastLines(r.stderr, 5)}`;
  else if (result.fatal) error = `fatal: ${result.fatal}`;
  else if (!result.ok) error = `${result.errors?.total ?? '?'} error(s): ${(result.errors?.first ?? []).slice(0, 2).join('; ')}`;
  return { ok: error === null, result, exitCode: r.code, stderr: r.stderr, error };
}

/** What a filter registers: { filter: [...], report: [...] }, or throws with the reason. */
export async function probeRegistration(simBin, filterCmd, { handshakeMs = 30_000 } = {}) {
  const r = await runSim(simBin, filterCmd, { handshakeOnly: true, handshakeMs });
  if (!r.result || r.result.fatal) {
    throw new Error(r.result?.fatal ? `${r.result.fatal}\n${lastLines(r.stderr, 8)}` : r.error);
  }
  return { ...r.result.registered, handshakeMs: r.result.handshake_ms };
}

export function lastLines(text, n) {
  return String(text ?? '')
    .trim()
    .split('\n')
    .slice(-n)
    .join(' | ');
}
