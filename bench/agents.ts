/**
 * Benchmarks of the hub's decision agents:
 *   - consensus latency with 50 voting agents (median and p99 over many rounds);
 *   - planning time for a site with 500 gateways;
 *   - decisions per second through the coordinator (propose -> vote -> decide -> route).
 *
 *   npx tsx bench/agents.ts
 */
import { pathToFileURL } from 'node:url';
import { createLogger } from '../shared/kit/log.js';
import {
  AgentBus,
  AgentRoster,
  ConsensusManager,
  Coordinator,
  Executor,
  RingBufferAudit,
  buildSnapshot,
  createSpecialists,
  plan,
  type Agent,
  type Ballot,
  type CommandPort,
  type FacilityIndex,
  type Objective,
  type Proposal,
  type ProposalKind,
  type TelemetryPort,
  type Vote,
  type VoteDraft,
} from '../hub/agents/index.js';
import { facility, syntheticFacility } from '../test/agents/support.js';

export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function consensusBench(rounds: number): BenchResult[] {
  const now = Date.now();
  const proposal: Proposal = {
    id: 'p-bench',
    agent: 'a0',
    domain: 'energy',
    kind: 'setback',
    site: 's',
    gateway: 'g',
    action: { kind: 'write', device: 'd', point: 'p', value: 1 },
    rollback: true,
    confidence: 0.9,
    rawConfidence: 0.9,
    rationale: '',
    evidence: {},
    priority: 'normal',
    ts: now,
  };
  const domains = ['energy', 'comfort', 'equipment', 'safety'] as const;
  const voters = Array.from({ length: 50 }, (_, i) => ({
    id: `a${i}`,
    domain: domains[i % 4] ?? 'energy',
    relevance: ((i * 37) % 100) / 100,
    track: 0.2 + ((i * 13) % 70) / 100,
    weight: 1 + (i % 3),
    vetoAuthority: i % 4 === 3,
  }));
  const votes: Vote[] = voters.map((v, i) => ({
    voter: v.id,
    proposal: proposal.id,
    choice: i % 5 === 0 ? 'reject' : i % 7 === 0 ? 'abstain' : 'approve',
    confidence: 0.5 + (i % 5) / 10,
    reason: 'bench',
    castAt: now + (i % 11 === 0 ? 5000 : 0), // a few miss the deadline
  }));
  const ballot: Ballot = { proposal, voters, votes, deadline: now + 1000 };
  const out: BenchResult[] = [];
  for (const name of ['majority', 'expertise', 'delegated'] as const) {
    const manager = new ConsensusManager(name);
    for (let i = 0; i < 200; i += 1) manager.decide(ballot); // warm-up
    const times: number[] = [];
    for (let i = 0; i < rounds; i += 1) {
      const t = performance.now();
      manager.decide(ballot);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    out.push({ name: `consensus.${name}.50-voters.median`, value: round3(quantile(times, 0.5)), unit: 'ms' });
    out.push({ name: `consensus.${name}.50-voters.p99`, value: round3(quantile(times, 0.99)), unit: 'ms' });
  }
  return out;
}

function planBench(runs: number): BenchResult[] {
  const f = syntheticFacility(50, 10);
  const objective: Objective = {
    id: 'cut10',
    kind: 'reduce-energy',
    site: 'big',
    targetPct: 10,
    horizonDays: 30,
    startMs: Date.UTC(2025, 0, 6),
    constraints: { maxComfortViolations: 0, excludeZones: [], protectColdChain: true, marginPct: 15 },
  };
  plan(objective, f); // warm-up
  const times: number[] = [];
  let steps = 0;
  for (let i = 0; i < runs; i += 1) {
    const t = performance.now();
    steps = plan(objective, f).steps.length;
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return [
    { name: 'planner.500-gateways.median', value: round3(quantile(times, 0.5)), unit: 'ms' },
    { name: 'planner.500-gateways.max', value: round3(times[times.length - 1] ?? NaN), unit: 'ms' },
    { name: 'planner.500-gateways.steps', value: steps, unit: 'steps' },
  ];
}

/** A generic voter standing in for more specialists (to load the coordinator with 50 agents). */
class EchoVoter implements Agent {
  readonly vetoAuthority = false;
  readonly domain = 'comfort' as const;
  constructor(readonly id: string) {}
  relevance(_kind: ProposalKind): number {
    return 0.3;
  }
  propose(): [] {
    return [];
  }
  vote(): VoteDraft {
    return { choice: 'approve', confidence: 0.7, reason: 'echo' };
  }
}

async function coordinatorBench(extraVoters: number, seconds: number): Promise<BenchResult> {
  const f: FacilityIndex = facility();
  const commands: CommandPort = { send: (_g, _a, o) => Promise.resolve({ id: o.idempotencyKey, outcome: 'applied' }) };
  const telemetry: TelemetryPort = { window: () => Promise.resolve([]), latest: () => Promise.resolve(undefined) };
  const bus = new AgentBus({ audit: new RingBufferAudit(10_000), log: createLogger('bench.agents.bus', 'silent') });
  // Silent: the bench has no telemetry, so every effect check escalates 'effect unknown'.
  const log = createLogger('bench.agents', 'silent');
  const executor = new Executor({ commands, telemetry, bus, sleep: () => Promise.resolve(), log });
  const agents: Agent[] = [...createSpecialists(), ...Array.from({ length: extraVoters }, (_, i) => new EchoVoter(`echo-${i}`))];
  const coordinator = new Coordinator({ roster: new AgentRoster(agents), executor, review: { submit: () => undefined }, bus, log, cooldownMs: 0 });
  const base = Date.UTC(2025, 0, 6, 22, 0, 0);
  const MIN = 60_000;
  let decisions = 0;
  let i = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const ts = base + i * MIN;
    i += 1;
    // Night-time office readings (setback, simultaneous heat/cool) and a warming freezer.
    const snapshot = buildSnapshot({
      ts,
      site: 's1',
      facility: f,
      readings: [
        { gateway: 'gw-office-1', device: 'ahu', point: 'zone_temp', value: 22 },
        { gateway: 'gw-office-1', device: 'ahu', point: 'heat_sp', value: 21 },
        { gateway: 'gw-office-1', device: 'ahu', point: 'cool_sp', value: 24 },
        { gateway: 'gw-office-1', device: 'ahu', point: 'heat_valve', value: 40 },
        { gateway: 'gw-office-1', device: 'ahu', point: 'cool_valve', value: 30 },
        { gateway: 'gw-cold', device: 'coldroom', point: 'temperature', value: -12 },
        { gateway: 'gw-cold', device: 'coldroom', point: 'compressor_running', value: false },
        { gateway: 'gw-cold', device: 'gpio', point: 'backup_compressor_relay', value: false },
      ],
      history: [{ gateway: 'gw-cold', device: 'coldroom', point: 'temperature', samples: [{ ts: ts - 20 * MIN, value: -14 }] }],
      events: [{ v: 1, id: `evt-${i}`, gateway: 'gw-cold', ts, kind: 'anomaly', severity: 'warning', device: 'coldroom', point: 'temperature', message: 'rising' }],
    });
    const report = await coordinator.evaluate(snapshot);
    decisions += report.decisions.length;
  }
  await coordinator.idle();
  const elapsed = (performance.now() - start) / 1000;
  return { name: `coordinator.${agents.length}-agents.decisions-per-second`, value: Math.round(decisions / elapsed), unit: 'decisions/s' };
}

export async function benchAgents(): Promise<BenchResult[]> {
  return [...consensusBench(5000), ...planBench(20), await coordinatorBench(0, 2), await coordinatorBench(46, 2)];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchAgents()) console.log(`${r.name.padEnd(48)} ${String(r.value).padStart(10)} ${r.unit}`);
}
