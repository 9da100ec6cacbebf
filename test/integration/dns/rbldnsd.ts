/**
 * A real rbldnsd (Debian's package) serving generated zones on a loopback
 * port, run as `nobody`: IPv4 and IPv6 sets and domain sets, with an A and a
 * TXT per entry.
 * Ready is its first successful answer (the RFC 5782 test entry 127.0.0.2),
 * asked through node:dns as the filter asks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeTransport } from '../../../src/dns/node-transport.js';

export interface Zone {
  /** The zone name, `zen.test`. */
  readonly name: string;
  /** ip4set lines: `192.0.2.7 :127.0.0.2:listed`. */
  readonly ipv4?: readonly string[];
  /** ip6trie lines: `2001:db8:1234:5678:9abc::/128 :127.0.0.2:listed`. */
  readonly ipv6?: readonly string[];
  /** dnset lines, for a domain list: `spam.example :127.0.1.2:listed`. */
  readonly domains?: readonly string[];
}

/** A UDP port nobody holds now (the kernel's pick, released). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export class Rbldnsd {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    private readonly stderr: string[],
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(zones: readonly Zone[]): Promise<Rbldnsd> {
    const dir = mkdtempSync(join(tmpdir(), 'filter-rules-rbldnsd-'));
    // rbldnsd drops to nobody before it reads the zones.
    chmodSync(dir, 0o755);
    const specs: string[] = [];
    for (const z of zones) {
      // Every zone answers its RFC 5782 test entry, the readiness probe.
      const v4 = join(dir, `${z.name}.v4`);
      writeFileSync(v4, [':127.0.0.2:Listed, see http://example.test/$', '127.0.0.2', ...(z.ipv4 ?? []), ''].join('\n'), { mode: 0o644 });
      specs.push(`${z.name}:ip4set:${v4}`);
      if (z.ipv6 !== undefined) {
        const v6 = join(dir, `${z.name}.v6`);
        writeFileSync(v6, [':127.0.0.2:Listed (IPv6)', ...z.ipv6, ''].join('\n'), { mode: 0o644 });
        specs.push(`${z.name}:ip6trie:${v6}`);
      }
      if (z.domains !== undefined) {
        const names = join(dir, `${z.name}.dn`);
        writeFileSync(names, [':127.0.1.2:Listed domain', ...z.domains, ''].join('\n'), { mode: 0o644 });
        specs.push(`${z.name}:dnset:${names}`);
      }
    }
    const port = await freeUdpPort();
    const stderr: string[] = [];
    const child = spawn('/usr/sbin/rbldnsd', ['-n', '-u', 'nobody', '-b', `127.0.0.1/${port}`, '-t', '300', '-a', ...specs], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr?.on('data', (b: Buffer) => stderr.push(b.toString()));
    child.stdout?.on('data', (b: Buffer) => stderr.push(b.toString()));
    const server = new Rbldnsd(child, dir, port, stderr);
    await server.ready(zones[0]?.name ?? 'test');
    return server;
  }

  /** Ask until it answers: its first answer says it is up (no fixed sleep). */
  private async ready(zone: string): Promise<void> {
    const transport = nodeTransport({ server: { host: '127.0.0.1', port: this.port }, tryTimeoutMs: 100, tries: 1 });
    for (let attempt = 0; attempt < 200; attempt++) {
      if (this.child.exitCode !== null) throw new Error(`rbldnsd exited (${this.child.exitCode}): ${this.stderr.join('')}`);
      const o = await transport.query(`2.0.0.127.${zone}`, 'A');
      if (o.kind === 'answer') return;
    }
    throw new Error(`rbldnsd did not answer: ${this.stderr.join('')}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
