// Vitest: unit tests run without Samba; integration tests (test/**/*.int.test.ts) start their own
// Samba AD DC from a template that the global setup provisions once per run.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 3,
    fileParallelism: true,
    reporters: ['default'],
  },
});
