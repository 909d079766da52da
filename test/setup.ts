/** Loaded by vitest before every test file (vitest.config.ts: setupFiles). */
import { afterEach } from 'vitest';
import { runCleanups } from './helpers/cleanup.js';

afterEach(runCleanups);
