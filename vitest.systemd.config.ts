import { defineConfig } from 'vitest/config';

/** npm run test:systemd: the package under a real systemd (test/systemd/), kept out of the default run: it downloads a Debian system. */
export default defineConfig({
  test: {
    include: ['test/systemd/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 1_200_000,
    hookTimeout: 600_000,
    maxWorkers: 1,
  },
});
