#!/usr/bin/env node
// `npm run soak`: the soak test of test/soak (real smtpd, postgrey, reloads, many
// senders) for longer than the CI run: SOAK_SECONDS of traffic, 300 unless set.
// SOAK_WORKERS and SOAK_RELOAD_MS are passed on as well. Needs root (namespaces).
import { spawnSync } from 'node:child_process';

const env = { ...process.env, SOAK_SECONDS: process.env.SOAK_SECONDS ?? '300' };
const test = new URL('../dist/test/soak/soak.test.js', import.meta.url).pathname;
const r = spawnSync(process.execPath, ['--test', test], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
