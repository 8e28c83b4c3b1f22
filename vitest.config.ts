import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // The end-to-end files mostly wait on sockets and timers: four side by side keep two cores busy (58 s against 82 s with two).
    maxWorkers: 4,
    // Memory tests (RSS growth of a bounded download) collect garbage before they measure.
    execArgv: ['--expose-gc'],
    expect: { poll: { timeout: 10_000, interval: 20 } },
  },
});
