/**
 * The smallest correct filter: handshake (protocol.md §2), then `proceed` to every
 * request. It validates the harness (namespaces, staging, delivery, teardown)
 * independently of the real filter. `--pause-ms N` delays the connect answer, which
 * is how the banner pause works (§7.1), so the timing helpers can be checked too.
 *
 * It logs the protocol version of the first request it gets (`stand-in filter
 * protocol 0.7`), so the harness test can tell which smtpd it talked to.
 *
 * Deliberately independent of src/: if the real filter breaks, this one still
 * tells whether the harness works.
 */
import { createInterface } from 'node:readline';

const PHASES = ['connect', 'helo', 'ehlo', 'mail-from', 'rcpt-to', 'data', 'commit'];

const pauseArg = process.argv.indexOf('--pause-ms');
const pauseMs = pauseArg >= 0 ? Number(process.argv[pauseArg + 1] ?? '0') : 0;

let registered = false;
let versionLogged = false;
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  if (!registered) {
    if (line === 'config|ready') {
      for (const phase of PHASES) out(`register|filter|smtp-in|${phase}`);
      out('register|ready');
      registered = true;
      process.stderr.write(`stand-in filter ready pause-ms=${pauseMs}\n`);
    }
    return;
  }
  // filter|VERSION|TS|smtp-in|PHASE|SESSION|TOKEN|PARAMS (only the last field may hold '|')
  const f = line.split('|', 7);
  if (f[0] !== 'filter' || f.length < 7) return;
  if (!versionLogged) {
    versionLogged = true;
    process.stderr.write(`stand-in filter protocol ${f[1]}\n`);
  }
  const answer = `filter-result|${f[5]}|${f[6]}|proceed`;
  if (f[4] === 'connect' && pauseMs > 0) setTimeout(() => out(answer), pauseMs);
  else out(answer);
});
process.stdin.on('end', () => process.exit(0));
