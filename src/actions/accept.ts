/** Moved to steps/accept.ts (issue 11 stage 10a). */
export { createAcceptRunner } from '../steps/accept.js';
