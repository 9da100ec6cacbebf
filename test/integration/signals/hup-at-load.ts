/**
 * `node --import …/hup-at-load.js dist/src/cli/main.js RULES`: raises SIGHUP at
 * the filter the moment the first of its modules after the entry is resolved,
 * that is, while the program is loading. The entry must have caught it by
 * then; before it existed, the filter died there (exit 129), and smtpd with it.
 *
 * This file is both the `--import` preload (on the main thread: it registers
 * itself) and the resolve hook (on Node.js's module-hooks thread). A signal
 * sent from there is a signal to the whole process.
 */
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) register(import.meta.url);

interface ResolveContext {
  readonly parentURL?: string;
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ readonly url: string }>;

// This file is dist/test/integration/signals/hup-at-load.js once built.
const SRC = new URL('../../../src/', import.meta.url).href;
const ENTRY = new URL('cli/main.js', SRC).href;
let raised = false;

export async function resolve(specifier: string, context: ResolveContext, next: NextResolve): Promise<{ readonly url: string }> {
  const resolved = await next(specifier, context);
  const ours = resolved.url.startsWith(SRC) && resolved.url !== ENTRY;
  if (!raised && ours) {
    raised = true;
    process.kill(process.pid, 'SIGHUP');
  }
  return resolved;
}
