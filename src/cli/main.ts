#!/usr/bin/env -S node --v8-pool-size=1 --max-semi-space-size=1 --heap-growing-percent=50
/**
 * The entry point. It checks the Node.js version first and only then loads
 * the commands (commands.ts), so that an old Node.js gets a line saying what
 * to install instead of an error from inside a module.
 *
 * (The shebang sets V8's young generation to 8 MB: under load, each login's
 * garbage is collected with less copying of the requests still in flight. It
 * also lets the old generation grow by half its live size between full
 * collections instead of V8's default of up to four times: connections alive
 * across a young collection are promoted and die soon after, and by default
 * that garbage piles up to several times what is live before it is collected.
 * docs/BENCHMARKS.md has the settings tried and what each gave. The .deb's
 * wrapper, the container's entry point and the benchmarks use the same flags:
 * test/packaging/v8-flags.test.ts keeps them together.)
 */
import { nodeVersionProblem } from './node-version.js';

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
await import('./commands.js');
