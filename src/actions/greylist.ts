/** Moved to steps/greylist/run.ts (issue 11 stage 10a). */
export * from '../steps/greylist/run.js';
