import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The package under a real systemd downloads a Debian system: npm run test:systemd (vitest.systemd.config.ts).
    exclude: ['test/systemd/**', 'node_modules/**'],
    // Undoes what helpers made in each test (test/helpers/cleanup.ts).
    setupFiles: ['test/setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Tests spawn daemons and real clients; two workers suit a 2-core machine.
    maxWorkers: 2,
  },
});
