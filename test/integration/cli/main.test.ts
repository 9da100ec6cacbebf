/**
 * The built CLI as smtpd runs it: `node dist/src/cli/main.js RULES` with
 * stdin/stdout pipes. No smtpd needed: the test speaks the protocol.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAIN = new URL('../../../src/cli/main.js', import.meta.url).pathname;
const PACKAGE = new URL('../../../../package.json', import.meta.url);
const SID = '3689fe601e5436b4';
const HANDSHAKE = ['config|smtpd-version|6.8.0p2', 'config|smtp-session-timeout|300', 'config|subsystem|smtp-in', 'config|admd|vm', 'config|ready'];

const dir = mkdtempSync(join(tmpdir(), 'filter-rules-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function rulesFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const RULES = rulesFile(
  'antispam.rules',
  ['chain antispam =', '    pause 2s', '    then reject "550 5.7.1 bare IP address in HELO" when helo ~ /^\\[/', ''].join('\n'),
);

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Start the filter, write `input` (chunks written apart), close stdin after `closeAfterMs`, collect everything. */
function runFilter(
  args: string[],
  input: (string | Buffer)[],
  closeAfterMs = 0,
  onOutput?: (stdout: string, child: ReturnType<typeof spawn>) => void,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      onOutput?.(Buffer.concat(out).toString('utf8'), child);
    });
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
      });
    });
    for (const chunk of input) child.stdin.write(chunk);
    if (closeAfterMs >= 0) setTimeout(() => child.stdin.end(), closeAfterMs);
  });
}

const stdoutLines = (r: Run) => r.stdout.split('\n').filter((l) => l !== '');

describe('filter-rules (run mode)', () => {
  test('handshake, requests, garbage survived, EOF → exit 0; stdout holds protocol lines only', async () => {
    const r = await runFilter(
      [RULES],
      [
        `${HANDSHAKE.join('\n')}\n`,
        'garbage\n',
        Buffer.from([0xff, 0xfe, 0x0a]),
        `report|0.6|1795635326.076777|smtp-in|link-connect|${SID}|localhost|pass|127.0.0.1:60192|127.0.0.1:2540\n`,
        'this|is|not|a|protocol|line\n',
        `filter|0.6|1795635326.077291|smtp-in|ehlo|${SID}|1a9c37f9d78d35b9|[192.0.2.1]\n`,
      ],
      500,
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = stdoutLines(r);
    assert.equal(lines.filter((l) => l === 'register|ready').length, 1);
    assert.ok(lines.includes('register|filter|smtp-in|connect'));
    assert.ok(!lines.includes('register|filter|smtp-in|data-line'), 'these rules do not need data-line');
    assert.equal(lines.at(-1), `filter-result|${SID}|1a9c37f9d78d35b9|reject|550 5.7.1 bare IP address in HELO`);
    assert.ok(lines.every((l) => /^(register|filter-result|filter-dataline)\|/.test(l)), r.stdout);
    assert.ok(!r.stdout.includes('\r'));
    // Logs are JSON lines on stderr.
    const logs = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(logs.some((l) => l.msg === 'filter-rules starting' && l.chain === 'antispam'));
    assert.ok(logs.some((l) => l.msg === 'registered with smtpd' && l.smtpdVersion === '6.8.0p2'));
    assert.ok(logs.some((l) => l.msg === 'malformed input line ignored'));
    assert.ok(logs.some((l) => l.msg === 'decision' && l.decision === 'reject' && l.client === '127.0.0.1:60192'));
  });

  test('exits promptly at EOF even with a pause in progress, without answering it', async () => {
    // A pause far longer than runFilter's 20 s SIGKILL: a filter that waited for it would be killed
    // (code null), so exiting on its own is the proof, with no bound on how long start-up takes.
    const longPause = rulesFile('long-pause.rules', 'chain antispam =\n    pause 2m\n');
    const r = await runFilter(
      [longPause],
      [
        `${HANDSHAKE.join('\n')}\n`,
        `report|0.6|1|smtp-in|link-connect|${SID}|localhost|pass|127.0.0.1:60192|127.0.0.1:2540\n`,
        `filter|0.6|1|smtp-in|connect|${SID}|1a9c37f7cd0c06a5|localhost|127.0.0.1\n`,
      ],
      200,
    );
    assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
    assert.ok(!r.stdout.includes('filter-result'), 'the paused connect must not be answered after EOF');
  });

  test('the pause delays the connect answer', async () => {
    let readyAt = 0;
    let answeredAt = 0;
    const r = await runFilter(
      [RULES],
      [
        `${HANDSHAKE.join('\n')}\n`,
        `report|0.6|1|smtp-in|link-connect|${SID}|localhost|pass|127.0.0.1:60192|127.0.0.1:2540\n`,
        `filter|0.6|1|smtp-in|connect|${SID}|1a9c37f7cd0c06a5|localhost|127.0.0.1\n`,
      ],
      -1,
      (stdout, child) => {
        if (readyAt === 0 && stdout.includes('register|ready\n')) readyAt = Date.now();
        if (answeredAt === 0 && stdout.includes('filter-result|')) {
          answeredAt = Date.now();
          child.stdin?.end();
        }
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stdoutLines(r).at(-1), `filter-result|${SID}|1a9c37f7cd0c06a5|proceed`);
    // The request was read with the handshake; its answer waits for the 2 s pause.
    assert.ok(answeredAt - readyAt >= 1900, `answered ${answeredAt - readyAt} ms after the handshake`);
  });

  test('SIGHUP does not kill the filter: it reloads, and the filter keeps answering', async () => {
    let hung = false;
    let asked = false;
    const r = await runFilter([RULES], [`${HANDSHAKE.join('\n')}\n`], -1, (stdout, child) => {
      if (!hung && stdout.includes('register|ready\n')) {
        hung = true;
        // Ask once the reload it causes was logged (no fixed wait).
        let stderr = '';
        child.stderr?.on('data', (c: Buffer) => {
          stderr += c.toString('utf8');
          if (asked || !stderr.includes('rules reloaded (SIGHUP)')) return;
          asked = true;
          child.stdin?.write(`report|0.6|1|smtp-in|link-connect|${SID}|localhost|pass|127.0.0.1:1000|127.0.0.1:25\n`);
          child.stdin?.write(`filter|0.6|1|smtp-in|ehlo|${SID}|1a9c37f9d78d35b9|ok.example\n`);
        });
        child.kill('SIGHUP');
      } else if (asked && stdout.includes('filter-result|')) {
        child.stdin?.end();
      }
    });
    assert.equal(r.signal, null);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(stdoutLines(r).at(-1), `filter-result|${SID}|1a9c37f9d78d35b9|proceed`);
    assert.match(r.stderr, /SIGHUP/);
  });

  test('reload: an edited rules file applies to new sessions; a running session keeps its rules', async () => {
    const file = rulesFile('reload.rules', ['chain antispam =', '    reject "550 5.7.1 old rules" when helo ~ /^x/', ''].join('\n'));
    const OLD = '3689fe601e5436b4';
    const NEW = '3689fe69138f0c10';
    const connect = (sid: string) => `report|0.6|1|smtp-in|link-connect|${sid}|localhost|pass|127.0.0.1:1000|127.0.0.1:25\n`;
    const ehlo = (sid: string) => `filter|0.6|1|smtp-in|ehlo|${sid}|1a9c37f9d78d35b9|x.example\n`;
    let step = 0;
    let stderr = '';
    const r = await runFilter([file], [`${HANDSHAKE.join('\n')}\n`, connect(OLD)], -1, (stdout, child) => {
      if (step === 0 && stdout.includes('register|ready\n')) {
        step = 1;
        writeFileSync(file, ['chain antispam =', '    reject "550 5.7.1 new rules" when helo ~ /^x/', ''].join('\n'));
        child.kill('SIGHUP');
        child.stderr?.on('data', (c: Buffer) => {
          stderr += c.toString('utf8');
          if (step === 1 && stderr.includes('rules swapped')) {
            step = 2;
            child.stdin?.write(`${connect(NEW)}${ehlo(NEW)}${ehlo(OLD)}`);
          }
        });
      } else if (step === 2 && stdout.split('filter-result|').length === 3) {
        step = 3;
        child.stdin?.end();
      }
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(stdoutLines(r).slice(-2), [
      `filter-result|${NEW}|1a9c37f9d78d35b9|reject|550 5.7.1 new rules`,
      `filter-result|${OLD}|1a9c37f9d78d35b9|reject|550 5.7.1 old rules`,
    ]);
  });

  test('invalid rules at startup: located diagnostics on stderr, nothing on stdout, exit 1', async () => {
    const bad = rulesFile('bad.rules', ['chain antispam =', '    pause 3s', '    then rejct "550 5.7.1 no"', ''].join('\n'));
    const r = await runFilter([bad], [`${HANDSHAKE.join('\n')}\n`]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '', 'stdout belongs to smtpd');
    assert.match(r.stderr, /bad\.rules:3:10: error\[/);
  });

  test('several chains: --chain picks one; none or an unknown one is an error naming the chains', async () => {
    const two = rulesFile('two.rules', ['chain inbound =', '    pause 1s', 'chain submission =', '    accept', ''].join('\n'));
    const none = await runFilter([two], []);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /2 chains \("inbound", "submission"\); choose one with --chain NAME/);
    const typo = await runFilter(['--chain', 'inbund', two], []);
    assert.equal(typo.code, 1, typo.stderr);
    assert.match(typo.stderr, /did you mean "inbound"\?/);
    const picked = await runFilter(['--chain', 'submission', two], [`${HANDSHAKE.join('\n')}\n`]);
    assert.equal(picked.code, 0, picked.stderr);
    assert.ok(picked.stderr.includes('"chain":"submission"'));
  });
});

describe('filter-rules check / --help / --version', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 20_000 });

  test('check: 0 for valid rules (with a summary of the chain), 1 with diagnostics otherwise', () => {
    const ok = cli('check', RULES);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /valid/);
    assert.match(ok.stdout, /chain "antispam": 2 step\(s\)/);
    const bad = rulesFile('bad2.rules', ['chain antispam =', '    pause 3s', '    then rejct "550 5.7.1 no"', ''].join('\n'));
    const no = cli('check', bad);
    assert.equal(no.status, 1);
    assert.match(no.stdout, /bad2\.rules:3:10: error\[/, no.stderr);
    assert.match(no.stdout, /did you mean "reject"/);
  });

  test('check with a multi-chain file is valid without --chain; an unknown --chain is not', () => {
    const two = rulesFile('two-check.rules', ['chain inbound =', '    pause 1s', 'chain submission =', '    accept', ''].join('\n'));
    const all = cli('check', two);
    assert.equal(all.status, 0, all.stdout + all.stderr);
    assert.match(all.stdout, /chain "inbound"/);
    assert.match(all.stdout, /chain "submission"/);
    const wrong = cli('check', '--chain', 'outbound', two);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stdout, /no chain named "outbound"/, wrong.stderr);
  });

  test('--version prints the package version; --help the usage; a usage error exits 2', () => {
    const version = (JSON.parse(readFileSync(PACKAGE, 'utf8')) as { version: string }).version;
    assert.equal(cli('--version').stdout, `filter-rules ${version}\n`);
    const help = cli('--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /filter-rules check \[--chain NAME\] RULES-FILE/);
    const usage = cli('--log-level', 'loud', RULES);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /--log-level must be one of/);
  });
});
