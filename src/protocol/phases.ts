export * from '../model/phases.js';
