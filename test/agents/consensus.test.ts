import { describe, expect, it } from 'vitest';
import { ConsensusManager, delegated, expertise, majority, weighted, type Ballot, type Proposal, type Vote, type Voter } from '../../hub/agents/index.js';

const NOW = 1_700_000_000_000;

function proposal(confidence = 0.9): Proposal {
  return {
    id: 'p-1',
    agent: 'energy',
    domain: 'energy',
    kind: 'setback',
    site: 's1',
    gateway: 'gw-1',
    action: { kind: 'write', device: 'ahu', point: 'heat_sp', value: 16 },
    rollback: true,
    confidence,
    rawConfidence: confidence,
    rationale: 'test',
    evidence: {},
    priority: 'normal',
    ts: NOW,
  };
}

function voter(id: string, relevance = 1, track = 0.5, extra: Partial<Voter> = {}): Voter {
  return { id, domain: 'energy', relevance, track, vetoAuthority: false, ...extra };
}

function vote(voterId: string, choice: Vote['choice'], confidence = 0.9, castAt = NOW, veto?: boolean): Vote {
  return { voter: voterId, proposal: 'p-1', choice, confidence, reason: choice, castAt, ...(veto === undefined ? {} : { veto }) };
}

function ballot(voters: Voter[], votes: Vote[], p = proposal()): Ballot {
  return { proposal: p, voters, votes, deadline: NOW + 1000 };
}

describe('consensus', () => {
  it('simple majority: one voter one vote, ties are not approvals', () => {
    const voters = ['a', 'b', 'c', 'd'].map((id) => voter(id));
    const three = majority.decide(ballot(voters, [vote('a', 'approve'), vote('b', 'approve'), vote('c', 'reject'), vote('d', 'approve')]));
    expect(three.outcome).toBe('approved');
    expect(three.tally.approve).toBeCloseTo(0.75);
    expect(three.dissent.map((v) => v.voter)).toEqual(['c']);
    expect(three.id).toBe('dec-p-1');

    const tie = majority.decide(ballot(voters, [vote('a', 'approve'), vote('b', 'approve'), vote('c', 'reject'), vote('d', 'reject')]));
    expect(tie.outcome).toBe('rejected');
    expect(tie.dissent.map((v) => v.voter).sort()).toEqual(['a', 'b']);
  });

  it('weighted voting: a heavy voter outweighs two light ones', () => {
    const voters = [voter('boss', 1, 0.5, { weight: 5 }), voter('x', 1, 0.5, { weight: 1 }), voter('y', 1, 0.5, { weight: 1 })];
    const votes = [vote('boss', 'reject'), vote('x', 'approve'), vote('y', 'approve')];
    const d = weighted.decide(ballot(voters, votes));
    expect(d.outcome).toBe('rejected');
    expect(d.weights.boss).toBeCloseTo(5 / 7);
    expect(majority.decide(ballot(voters, votes)).outcome).toBe('approved');
  });

  it('expertise weighting: relevance x track record, normalised to sum 1', () => {
    const voters = [voter('expert', 1, 0.8), voter('novice', 0.2, 0.5), voter('outsider', 0, 0.9)];
    const d = expertise.decide(ballot(voters, [vote('expert', 'approve'), vote('novice', 'reject'), vote('outsider', 'reject')]));
    const sum = Object.values(d.weights).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(1, 12);
    expect(d.weights.expert).toBeCloseTo(0.8 / 0.9);
    expect(d.weights.novice).toBeCloseTo(0.1 / 0.9);
    expect(d.weights.outsider).toBe(0);
    expect(d.outcome).toBe('approved');
    // The same ballot with 40 extra laymen: normalisation keeps the expert's share meaningful.
    const laymen = Array.from({ length: 40 }, (_, i) => voter(`l${i}`, 0.01, 0.5));
    const crowd = expertise.decide(ballot([...voters, ...laymen], [vote('expert', 'approve'), vote('novice', 'reject'), ...laymen.map((l) => vote(l.id, 'reject'))]));
    expect(crowd.outcome).toBe('approved');
    expect(Object.values(crowd.weights).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('aggregated confidence is bounded by the proposal and lowered by dissent', () => {
    const voters = [voter('a'), voter('b'), voter('c')];
    const unanimous = expertise.decide(ballot(voters, [vote('a', 'approve', 1), vote('b', 'approve', 1), vote('c', 'approve', 1)], proposal(0.85)));
    expect(unanimous.confidence).toBeCloseTo(0.85);
    const split = expertise.decide(ballot(voters, [vote('a', 'approve', 0.9), vote('b', 'approve', 0.9), vote('c', 'reject', 0.9)], proposal(1)));
    expect(split.outcome).toBe('approved');
    expect(split.confidence).toBeLessThan(0.75);
  });

  it('quorum not reached: too little eligible weight voted', () => {
    const voters = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => voter(id));
    const votes = [vote('a', 'approve'), vote('b', 'approve'), vote('c', 'approve')];
    expect(majority.decide(ballot(voters, votes)).outcome).toBe('no-quorum');
    expect(majority.decide(ballot(voters, votes), { quorum: 0.5 }).outcome).toBe('approved');
    const d = expertise.decide(ballot(voters, votes));
    expect(d.outcome).toBe('no-quorum');
    expect(d.tally.participation).toBeCloseTo(0.5);
    expect(d.tally.quorum).toBe(0.67);
    // Abstentions count towards the quorum but not the outcome.
    const withAbstain = majority.decide(ballot(voters, [...votes, vote('d', 'abstain', 0), vote('e', 'abstain', 0)]));
    expect(withAbstain.outcome).toBe('approved');
  });

  it('delegated authority: a safety veto stops an otherwise approved proposal', () => {
    const voters = [voter('energy'), voter('comfort'), voter('equipment'), voter('safety', 0.3, 0.5, { vetoAuthority: true, domain: 'safety' })];
    const votes = [vote('energy', 'approve'), vote('comfort', 'approve'), vote('equipment', 'approve'), vote('safety', 'reject', 0.99, NOW, true)];
    const d = delegated(expertise).decide(ballot(voters, votes));
    expect(d.outcome).toBe('vetoed');
    expect(d.vetoedBy).toBe('safety');
    expect(d.confidence).toBeCloseTo(0.99);
    expect(d.dissent).toHaveLength(3);
    // A veto flag from a voter without authority is just a rejection.
    const noAuthority = delegated(expertise).decide(ballot(voters, [...votes.slice(0, 3), vote('comfort', 'reject', 0.9, NOW + 1, true)]));
    expect(noAuthority.outcome).not.toBe('vetoed');
    // A veto counts even when the quorum fails.
    const thin = delegated(majority).decide(ballot(voters, [vote('safety', 'reject', 0.99, NOW, true)]));
    expect(thin.outcome).toBe('vetoed');
  });

  it('timeout: late votes do not count and the quorum may then fail', () => {
    const voters = ['a', 'b', 'c'].map((id) => voter(id));
    const late = NOW + 5000;
    const d = majority.decide(ballot(voters, [vote('a', 'approve'), vote('b', 'approve', 0.9, late), vote('c', 'approve', 0.9, late)]));
    expect(d.outcome).toBe('no-quorum');
    expect(d.late.map((v) => v.voter).sort()).toEqual(['b', 'c']);
    expect(d.votes.map((v) => v.voter)).toEqual(['a']);
    // A late veto is no veto.
    const lateVeto = delegated(majority).decide(
      ballot([...voters, voter('s', 1, 0.5, { vetoAuthority: true })], [vote('a', 'approve'), vote('b', 'approve'), vote('c', 'approve'), vote('s', 'reject', 1, late, true)]),
    );
    expect(lateVeto.outcome).toBe('approved');
  });

  it('decides 50 voting agents in well under 5 ms', () => {
    const manager = new ConsensusManager('delegated');
    const voters = Array.from({ length: 50 }, (_, i) => voter(`v${i}`, (i % 10) / 10, 0.3 + (i % 7) / 10, { vetoAuthority: i === 0 }));
    const votes = voters.map((v, i) => vote(v.id, i % 3 === 0 ? 'reject' : 'approve', 0.5 + (i % 5) / 10));
    const times: number[] = [];
    for (let r = 0; r < 300; r += 1) {
      const t = performance.now();
      manager.decide(ballot(voters, votes));
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    expect(times[Math.floor(times.length / 2)]).toBeLessThan(5);
  });
});
