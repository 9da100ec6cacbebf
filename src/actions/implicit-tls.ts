/** Moved to steps/pause/implicit-tls.ts (issue 11 stage 10a). */
export * from '../steps/pause/implicit-tls.js';
