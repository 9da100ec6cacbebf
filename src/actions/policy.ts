/** Moved to steps/policy/run.ts (issue 11 stage 10a). */
export * from '../steps/policy/run.js';
