/**
 * `node --import …/refuse-sigpwr.js dist/src/cli/main.js RULES`: makes
 * process.on('SIGPWR') throw, as Node.js does for a signal it cannot install a
 * handler for, so a test sees what the entry does then (it must go on).
 */
const original = process.on.bind(process);
process.on = ((event: string | symbol, listener: (...args: unknown[]) => void) => {
  if (event === 'SIGPWR') throw new Error('uv_signal_start EINVAL (refused by the test)');
  return original(event, listener);
}) as typeof process.on;
