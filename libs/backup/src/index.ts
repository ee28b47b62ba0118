export * from './vault.js';
export * from './metadata.js';
export * from './snapshots.js';
export * from './tracked.js';
export * from './packs.js';
export * from './recorder.js';
