/**
 * A real unbound (Debian's package) serving test zones from `local-data`, on
 * a loopback port, run as `nobody` with a temporary configuration. Names under
 * `test.` are answered from the records given (NXDOMAIN or NODATA otherwise);
 * `stubs` delegate other zones to a server of the test's (a silent one gives a
 * real timeout). Ready is its first answer to a probe record. The e2e tests
 * start it inside a network namespace, on port 53, through `spawn`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeTransport } from '../../../src/dns/node-transport.js';

export interface UnboundOptions {
  /** Resource records in zone-file form, under `test.`: `a.test. TXT "v=spf1 -all"`. */
  readonly records: readonly string[];
  /** Zones (not under `test.`) delegated to another server: `{ zone: 'slow.', address: '127.0.0.1@5399' }`. */
  readonly stubs?: readonly { readonly zone: string; readonly address: string }[];
  /** Default: a free port on 127.0.0.1. */
  readonly port?: number;
  /** How to start it (default: a plain child process). The e2e tests start it in their network namespace. */
  readonly spawn?: (command: string, args: readonly string[]) => ChildProcess;
  /** How to tell it answers (default: a TXT query from this process). */
  readonly probe?: (port: number) => Promise<boolean>;
}

export const PROBE_NAME = 'unbound-ready.test.';

/** A UDP port nobody holds now (the kernel's pick, released). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** local-data takes one record per line, in single quotes (a TXT record's strings are in double quotes). */
function localData(record: string): string {
  if (record.includes("'")) throw new Error(`a record for unbound's local-data cannot hold a single quote: ${record}`);
  return `    local-data: '${record}'`;
}

export function unboundConfig(dir: string, port: number, options: UnboundOptions): string {
  const lines = [
    'server:',
    '    interface: 127.0.0.1',
    `    port: ${port}`,
    '    do-ip6: no',
    '    do-daemonize: no',
    '    username: "nobody"',
    '    chroot: ""',
    `    directory: "${dir}"`,
    '    pidfile: ""',
    '    use-syslog: no',
    '    logfile: ""',
    '    verbosity: 0',
    '    access-control: 127.0.0.0/8 allow',
    '    do-not-query-localhost: no',
    '    module-config: "iterator"',
    // Answers straight from local-data are never stale; a stub's lame answers must not be remembered across tests.
    '    cache-max-ttl: 0',
    '    infra-host-ttl: 1',
    '    local-zone: "test." static',
    localData(`${PROBE_NAME} TXT "ready"`),
    ...options.records.map(localData),
  ];
  for (const stub of options.stubs ?? []) {
    lines.push('stub-zone:', `    name: "${stub.zone}"`, `    stub-addr: ${stub.address}`);
  }
  lines.push('remote-control:', '    control-enable: no', '');
  return lines.join('\n');
}

export class Unbound {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    private readonly output: string[],
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(options: UnboundOptions): Promise<Unbound> {
    const dir = mkdtempSync(join(tmpdir(), 'filter-rules-unbound-'));
    // unbound drops to nobody, and reads its directory as that user.
    chmodSync(dir, 0o755);
    const port = options.port ?? (await freeUdpPort());
    const conf = join(dir, 'unbound.conf');
    writeFileSync(conf, unboundConfig(dir, port, options), { mode: 0o644 });
    const args = ['-d', '-p', '-c', conf];
    const child = options.spawn?.('/usr/sbin/unbound', args) ?? spawn('/usr/sbin/unbound', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
    child.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
    const server = new Unbound(child, dir, port, output);
    await server.ready(options.probe ?? probeFromHere);
    return server;
  }

  /** Ask until it answers: its first answer says it is up (no fixed sleep). */
  private async ready(probe: (port: number) => Promise<boolean>): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt++) {
      if (this.child.exitCode !== null) throw new Error(`unbound exited (${this.child.exitCode}): ${this.output.join('')}`);
      if (await probe(this.port)) return;
    }
    throw new Error(`unbound did not answer: ${this.output.join('')}`);
  }

  get log(): string {
    return this.output.join('');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function probeFromHere(port: number): Promise<boolean> {
  const transport = nodeTransport({ server: { host: '127.0.0.1', port }, tryTimeoutMs: 100, tries: 1 });
  const o = await transport.query(PROBE_NAME, 'TXT');
  return o.kind === 'answer';
}
