export * from './exit-codes.js';
export * from './errors.js';
export * from './paths.js';
export * from './records.js';
export * from './specs.js';
export * from './times.js';
