export * from './run-tool.js';
export * from './progress.js';
export * from './version.js';
