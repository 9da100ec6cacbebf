/** Moved to steps/pause/run.ts (issue 11 stage 10a). */
export { alreadyWaitedMs, createPauseRunner, MAX_TRUSTED_LAG_MS, onAbort, StepAbortedError, type PauseStep } from '../steps/pause/run.js';
