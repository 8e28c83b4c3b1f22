import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Two cores: the end-to-end files mostly wait on sockets, so two run side by side.
    maxWorkers: 2,
    // Memory tests (RSS growth of a bounded download) collect garbage before they measure.
    execArgv: ['--expose-gc'],
    expect: { poll: { timeout: 10_000, interval: 20 } },
  },
});
