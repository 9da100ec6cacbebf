export * from '../conditions/items.js';
