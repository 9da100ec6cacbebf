/** Moved to tools/test/ (issue 11 stage 4g); this shim goes in stage 13. */
export * from './test/simulate.js';
export * from './test/report.js';
