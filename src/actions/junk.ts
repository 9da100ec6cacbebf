/** Moved to steps/junk.ts (issue 11 stage 10a). */
export { createJunkRunner } from '../steps/junk.js';
