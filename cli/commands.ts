/** The one table of subcommands. A new command is one file plus one line here. */
import { demoCommand } from './demo.js';
import { edgeCommand } from './edge.js';
import { scoreCommand } from './score.js';
import { simCommand } from './sim.js';

export interface Command {
  readonly summary: string;
  run(args: string[]): Promise<number>;
}

export const commands: Record<string, Command> = {
  demo: demoCommand,
  edge: edgeCommand,
  sim: simCommand,
  score: scoreCommand,
};
