// The machine and the versions a run was measured with, for RESULTS.md.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { run } from './proc.mjs';
import { ROOT_DIR } from './paths.mjs';

async function firstLine(cmd, args, pattern) {
  try {
    const r = await run(cmd, args, { timeoutMs: 10_000 });
    const text = `${r.stdout}\n${r.stderr}`;
    if (pattern) {
      const m = text.match(pattern);
      return m ? (m[1] ?? m[0]).trim() : null;
    }
    return text.trim().split('\n')[0] || null;
  } catch {
    return null;
  }
}

function cpuModel() {
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch {
    /* not Linux */
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function packageVersion() {
  try {
    return JSON.parse(readFileSync(`${ROOT_DIR}/package.json`, 'utf8')).version;
  } catch {
    return null;
  }
}

export async function describeMachine() {
  const [smtpd, postgrey, redis, python, cc, commit] = await Promise.all([
    firstLine('smtpd', ['-h'], /version:\s*(.+)/),
    firstLine('postgrey', ['--version'], /postgrey\s+(\S+)/),
    firstLine('redis-server', ['--version'], /v=(\S+)/),
    firstLine('python3', ['--version'], /Python\s+(\S+)/),
    firstLine(process.env.CC || 'cc', ['--version']),
    firstLine('git', ['-C', ROOT_DIR, 'rev-parse', '--short', 'HEAD']),
  ]);
  return {
    nproc: os.availableParallelism(),
    cpu: cpuModel(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    versions: {
      'filter-rules': packageVersion() && commit ? `${packageVersion()} (${commit})` : packageVersion(),
      node: process.version,
      smtpd,
      postgrey,
      redis,
      python,
      cc,
    },
  };
}
