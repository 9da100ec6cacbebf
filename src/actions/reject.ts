/** Moved to steps/reject.ts (issue 11 stage 10a). */
export { createRejectRunner, type RejectStep } from '../steps/reject.js';
