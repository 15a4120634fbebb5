export * from './manifest.js';
export * from './signing.js';
