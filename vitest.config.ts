import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: the cluster tests run three bot processes beside the other files on two cores; a poll that holds returns at once.
    testTimeout: 40_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // The end-to-end files mostly wait on sockets and timers: four side by side keep two cores busy (58 s against 82 s with two).
    maxWorkers: 4,
    // Memory tests (RSS growth of a bounded download) collect garbage before they measure.
    execArgv: ['--expose-gc'],
    expect: { poll: { timeout: 20_000, interval: 20 } },
  },
});
