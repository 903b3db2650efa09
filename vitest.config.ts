import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      // Entry points run in child processes (smoke and shutdown tests), which v8 coverage cannot see.
      exclude: ['src/server.ts', 'src/db/migrate-cli.ts'],
      reporter: ['text-summary', 'lcov'],
      thresholds: { lines: 90, branches: 90 },
    },
  },
});
