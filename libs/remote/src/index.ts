export * from './url.js';
export * from './shell.js';
export * from './peer.js';
export * from './forward.js';
export * from './rclone.js';
export * from './kinds.js';
export * from './manifest.js';
