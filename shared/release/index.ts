export * from './manifest.js';
export * from './signing.js';
export * from './version.js';
