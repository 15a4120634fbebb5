export { CommandService, type CommandServiceOptions, type CreateCommand, type Publish } from './service.js';
