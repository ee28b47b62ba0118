export * from './algorithms.js';
export * from './hash-file.js';
export * from './pool.js';
