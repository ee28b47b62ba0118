export * from './database.js';
export * from './migrations.js';
export * from './hash-cache.js';
export * from './locations.js';
export * from './repository.js';
export * from './host.js';
