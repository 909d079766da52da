/**
 * "saslauthd-mysql prepare-socket-dirs --owner USER": the unit's
 * `ExecStartPre=+`, run as root before the sandboxed daemon starts. It makes
 * the directories of the configured sockets (the mux socket's run directory
 * and the Dovecot-protocol socket's) ones the daemon's user can create its
 * sockets in (protocol/socket-directory.ts says when that is safe), and says
 * what it did on standard output, which the journal keeps.
 *
 * It never stops a start on its own: a configuration it cannot read is left
 * for the daemon to refuse in its own words, and a directory it leaves alone
 * is named, with why, before the daemon's check explains the fix.
 */
import path from 'node:path';
import { resolveDaemonConfig, type DaemonConfig, type DaemonFlags } from '../config/daemon-config.js';
import { resolveUserId } from '../config/group.js';
import { describeError } from '../errors.js';
import { prepareSocketDirectory } from '../protocol/socket-directory.js';

/** The directories the daemon will create sockets in, given its configuration. */
export function socketDirectories(config: DaemonConfig): string[] {
  const dirs = [config.runDir];
  if (config.dovecot?.socketPath) dirs.push(path.dirname(config.dovecot.socketPath));
  return [...new Set(dirs)];
}

export function runPrepareSocketDirs(flags: DaemonFlags, owner: string, out: NodeJS.WritableStream): number {
  let config: DaemonConfig;
  let uid: number;
  try {
    config = resolveDaemonConfig(flags);
    uid = resolveUserId('--owner', owner);
  } catch (error) {
    out.write(`prepare-socket-dirs: nothing prepared, the daemon will say why: ${describeError(error).message}\n`);
    return 0;
  }
  if ((process.geteuid?.() ?? 0) !== 0) {
    out.write('prepare-socket-dirs: nothing prepared: only root may hand a directory to the daemon (the unit runs this with ExecStartPre=+)\n');
    return 0;
  }
  for (const dir of socketDirectories(config)) {
    try {
      const done = prepareSocketDirectory(dir, { uid, ...(config.socket.gid === undefined ? {} : { gid: config.socket.gid }) });
      if (done.action === 'created') out.write(`prepare-socket-dirs: created ${dir} for ${owner}\n`);
      else if (done.action === 'taken over') out.write(`prepare-socket-dirs: ${dir} (saslauthd's) now belongs to ${owner}, group and mode kept\n`);
      else if (done.action === 'left') out.write(`prepare-socket-dirs: left ${dir} as it is: ${done.why}\n`);
    } catch (error) {
      out.write(`prepare-socket-dirs: could not prepare ${dir}: ${(error as NodeJS.ErrnoException).code ?? describeError(error).message}\n`);
    }
  }
  return 0;
}
