import { describe, expect, it } from 'vitest';
import { AgentRoster, Coordinator, Executor, TrackRecordBook, buildSnapshot, createSpecialists, type Decision, type FacilityIndex } from '../../hub/agents/index.js';
import { facility, FakeClock, FakeCommands, MemoryReviews, MemoryTelemetry, MemoryTrackStore, T0 } from './support.js';

const DAY = 86_400_000;

function officeAt(f: FacilityIndex, ts: number) {
  return buildSnapshot({
    ts,
    site: 's1',
    facility: f,
    readings: [
      { gateway: 'gw-office-1', device: 'ahu', point: 'zone_temp', value: 21 },
      { gateway: 'gw-office-1', device: 'ahu', point: 'heat_sp', value: 21 },
    ],
  });
}

describe('track records', () => {
  it('a Beta posterior per agent and domain, decaying toward the prior', async () => {
    let now = T0;
    const store = new MemoryTrackStore();
    const book = new TrackRecordBook({ store, clock: () => now, halfLifeMs: 10 * DAY });
    expect(book.mean('energy', 'energy')).toBeCloseTo(0.5);
    for (let i = 0; i < 4; i += 1) await book.record('energy', 'energy', 'technician-rejected');
    expect(book.mean('energy', 'energy')).toBeCloseTo(2 / 8);
    expect(book.trust('energy', 'energy')).toBeCloseTo(0.5);
    expect(book.mean('energy', 'comfort')).toBeCloseTo(0.5); // other domains untouched
    // Good outcomes never push trust above 1 (confidence is never inflated).
    for (let i = 0; i < 10; i += 1) await book.record('comfort', 'comfort', 'effect-expected');
    expect(book.trust('comfort', 'comfort')).toBe(1);
    // After one half-life half of the extra evidence is gone.
    now += 10 * DAY;
    expect(book.get('energy', 'energy').beta).toBeCloseTo(2 + 4 / 2);
    // Persisted through the store and loaded into a fresh book.
    const fresh = new TrackRecordBook({ store, clock: () => T0 });
    expect(await fresh.load()).toBe(2);
    expect(fresh.mean('energy', 'energy')).toBeCloseTo(0.25);
  });

  it('technician rejections lower a specialist’s weight and confidence, and fewer of its proposals pass auto-execute', async () => {
    const f = facility();
    const clock = new FakeClock();
    const commands = new FakeCommands();
    const telemetry = new MemoryTelemetry();
    const learning = new TrackRecordBook({ clock: clock.read });
    const executor = new Executor({ commands, telemetry, clock: clock.read, sleep: () => Promise.resolve() });
    const reviews = new MemoryReviews();
    const coordinator = new Coordinator({ roster: new AgentRoster(createSpecialists()), executor, review: reviews, learning, clock: clock.read });

    const rounds: Array<{ confidence: number; weight: number; executed: boolean }> = [];
    const setbackOf = (d: readonly Decision[]): Decision | undefined => d.find((x) => x.proposal.kind === 'setback');
    for (let round = 0; round < 8; round += 1) {
      // Each night the energy specialist proposes the same setback; the technician overrides it.
      clock.now = T0 + round * DAY;
      const report = await coordinator.evaluate(officeAt(f, clock.now));
      const d = setbackOf(report.decisions);
      if (!d) throw new Error('no setback proposed');
      rounds.push({ confidence: d.confidence, weight: d.weights.energy ?? 0, executed: report.executed.includes(d) });
      await coordinator.technicianVerdict(d, 'rejected');
    }
    await coordinator.idle();

    // Raw confidence stays; the scaled one and the weight fall round after round.
    for (let i = 1; i < rounds.length; i += 1) {
      expect(rounds[i]?.confidence).toBeLessThan(rounds[i - 1]?.confidence ?? 0);
      expect(rounds[i]?.weight).toBeLessThan(rounds[i - 1]?.weight ?? 0);
    }
    const firstHalf = rounds.slice(0, 4).filter((r) => r.executed).length;
    const secondHalf = rounds.slice(4).filter((r) => r.executed).length;
    expect(rounds[0]?.executed).toBe(true);
    expect(secondHalf).toBe(0);
    expect(secondHalf).toBeLessThan(firstHalf);
    expect(learning.mean('energy', 'energy')).toBeLessThan(0.25);
    // Comfort approved every one of those setbacks: it lost a little credibility on energy matters too.
    expect(learning.mean('comfort', 'energy')).toBeLessThan(0.5);
    expect(learning.mean('comfort', 'energy')).toBeGreaterThan(learning.mean('energy', 'energy'));
    // The rejected-after-learning proposals went to the review queue instead.
    expect(reviews.items.filter((i) => i.kind === 'setback' && i.reason === 'low-confidence').length).toBe(rounds.filter((r) => !r.executed).length);
    const last = reviews.items[reviews.items.length - 1];
    expect(last?.evidence.proposal.rawConfidence).toBeCloseTo(0.88);
    expect(commands.sent.length).toBe(firstHalf);
  });
});
