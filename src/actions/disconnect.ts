/** Moved to steps/disconnect.ts (issue 11 stage 10a). */
export { createDisconnectRunner, type DisconnectStep } from '../steps/disconnect.js';
