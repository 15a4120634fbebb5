/**
 * The roster of agents the coordinator consults: a map id -> agent, the one place agents are
 * looked up. Registering an id twice is a programming error and throws, like the driver registry.
 */
import { SwarmgateError } from '../../shared/kit/errors.js';
import type { Agent } from './types.js';

export class AgentRoster {
  private readonly agents = new Map<string, Agent>();

  constructor(agents: readonly Agent[] = []) {
    for (const agent of agents) this.register(agent);
  }

  register(agent: Agent): void {
    if (this.agents.has(agent.id)) {
      throw new SwarmgateError('SWG_ERR_INTERNAL', `agent "${agent.id}" is registered twice; give each agent instance its own id`, {
        details: { agent: agent.id },
      });
    }
    this.agents.set(agent.id, agent);
  }

  get(id: string): Agent {
    const agent = this.agents.get(id);
    if (!agent) throw new SwarmgateError('SWG_ERR_INTERNAL', `unknown agent "${id}"; registered: ${this.ids().join(', ')}`);
    return agent;
  }

  has(id: string): boolean {
    return this.agents.has(id);
  }

  ids(): string[] {
    return [...this.agents.keys()];
  }

  all(): Agent[] {
    return [...this.agents.values()];
  }

  get size(): number {
    return this.agents.size;
  }
}
