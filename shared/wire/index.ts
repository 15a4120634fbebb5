export * from './topics.js';
export * from './messages.js';
export * from './codec.js';
export * from './digest.js';
export * from './telemetry-binary.js';
export * from './detector-prior.js';
