/** Moved to steps/pause/run.ts and steps/pause/pregreet.ts (issue 11 stage 10a). */
export { createPauseRunnerFactory, PayOnceMemory, type PauseEnd, type PauseEvents, type PauseRunnerDeps } from '../steps/pause/run.js';
export type { ConnectionWatcher } from '../steps/pause/pregreet.js';
