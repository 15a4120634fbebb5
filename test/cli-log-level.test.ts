/** Which commands log what by default: services keep info for journald, a person's terminal stays quiet. */
import { describe, expect, it } from 'vitest';
import { defaultLogLevel } from '../cli/log-level.js';

describe('default log level per command', () => {
  it('services log at info; interactive commands at warn; the demo, which prints its own story, at error', () => {
    expect(defaultLogLevel(['hub', '--config', 'hub.yaml'])).toBeUndefined();
    expect(defaultLogLevel(['edge', '--config', 'g.yaml'])).toBeUndefined();
    expect(defaultLogLevel(['sim'])).toBeUndefined();
    for (const argv of [['hub', 'user', 'add'], ['hub', 'mosquitto'], ['hub', 'quarantine', 'list'], ['hub', 'enroll', 'create'], ['hub', 'release', 'list'], ['edge', 'enroll', '--hub', 'h'], ['edge', 'check', 'g.yaml'], ['edge', 'dead-letters', 'list'], ['sim', 'speed', '600'], ['sim', 'step', '60'], ['sim', 'fault', 'list'], ['review', 'list'], ['score']]) {
      expect(defaultLogLevel(argv), argv.join(' ')).toBe('warn');
    }
    expect(defaultLogLevel(['demo'])).toBe('error');
  });
});
