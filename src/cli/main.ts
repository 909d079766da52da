#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * The entry point. It checks the Node.js version first and only then loads
 * the commands (commands.ts), so that an old Node.js gets a line saying what
 * to install instead of an error from inside a module.
 *
 * (The shebang sets V8's young generation to 8 MB: under load, each login's
 * garbage is collected with less copying of the requests still in flight;
 * docs/BENCHMARKS.md has the sizes tried and what each gave.)
 */
import { nodeVersionProblem } from './node-version.js';

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
await import('./commands.js');
