/**
 * The demo's terminal lines for review items: what a person watching the demo reads.
 */
import { describe, expect, it } from 'vitest';
import { formatReview } from '../../cli/demo-terminal.js';
import type { ReviewItem } from '../../hub/review/types.js';

const base: ReviewItem = {
  id: 'rv-1',
  site: 's',
  gateway: 'gw-1',
  priority: 50,
  source: 'gateway',
  actionClass: 'setpoint',
  action: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 21.5 },
  confidence: 0.55,
  rationale: 'zone warm',
  evidence: {},
  state: 'pending',
  createdAt: 0,
  expiresAt: 1,
  version: 1,
};

describe('demo terminal: review lines', () => {
  it('a modified item shows the value that went out, and a failed one why', () => {
    const line = formatReview({ ...base, state: 'failed', modifiedAction: { kind: 'write', device: 'ahu1', point: 'setpoint', value: 22 }, reason: 'command rejected: interlock' });
    expect(line).toContain('REVIEW  failed: ahu1/setpoint = 22 (modified from ahu1/setpoint = 21.5) (command rejected: interlock) (gw-1, confidence 0.55)');
    expect(formatReview(base)).toContain('REVIEW  pending: ahu1/setpoint = 21.5 (gw-1, confidence 0.55): zone warm');
  });
});
