export type { FilterDecision } from '../model/decision.js';
export type * from '../model/runner.js';
