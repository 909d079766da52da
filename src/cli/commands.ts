/**
 * The commands, loaded by main.ts once the Node.js version is known to be new
 * enough: the command tree (program.ts), parsed.
 */
import { buildProgram } from './program.js';
import { describeError } from '../errors.js';

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Every command reports its own failures; anything that still gets here is one line, never a stack trace.
  const { code, message } = describeError(error);
  process.stderr.write(`saslauthd-mysql: ${message}${code ? ` (${code})` : ''}\n`);
  process.exitCode = 1;
}
