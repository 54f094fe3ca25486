export * from './messages.js';
export * from './close-codes.js';
export * from './error-codes.js';
export * from './validate.js';
export * from './defaults.js';
export * from './params-check.js';
