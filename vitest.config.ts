import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'edge/**/*.test.ts', 'hub/**/*.test.ts', 'shared/**/*.test.ts', 'devices/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    env: { XDG_CONFIG_HOME: '/tmp/swarmgate-test-xdg' },
  },
});
