export * from '../model/plan.js';
export type { SourceSpan } from '../model/span.js';
export type { PolicyAddress } from '../model/address.js';
