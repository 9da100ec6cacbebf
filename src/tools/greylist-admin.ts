/** Moved to tools/greylist/ (issue 11 stage 4f): args.ts, select.ts, commands.ts. This re-export goes in stage 13. */
export * from './greylist/args.js';
export * from './greylist/select.js';
export * from './greylist/commands.js';
