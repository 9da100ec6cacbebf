export * from './session.js';
export * from './session-table.js';
