/** The real Cyrus saslauthd as the reference-chain suites run it, and the RHEL file that drives it there. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { eventually } from './daemon.js';

/**
 * /etc/sysconfig/saslauthd as cyrus-sasl's RPM ships it on RHEL 9, with the classic guide's
 * two edits (MECH=pam, FLAGS="-r"); its SOCKETDIR given.
 */
export function rhelSaslauthdSysconfig(socketDir: string): string {
  return `# Directory in which to place saslauthd's listening socket, pid file, and so
# on.  This directory must already exist.
SOCKETDIR=${socketDir}

# Mechanism to use when checking passwords.  Run "saslauthd -v" to get a list
# of which mechanism your installation was compiled with the ablity to use.
MECH=pam

# Additional flags to pass to saslauthd on the command line.  See saslauthd(8)
# for the list of accepted flags.
FLAGS="-r"
`;
}

/**
 * /usr/sbin/saslauthd with these arguments, until its socket DIR/mux exists; -d keeps it in the
 * foreground so the test owns it, and its own process group lets its workers stop with it.
 */
export async function startSaslauthd(args: readonly string[], socketDir: string): Promise<ChildProcess> {
  const child = spawn('/usr/sbin/saslauthd', [...args, '-d'], { detached: true, stdio: 'ignore' });
  await eventually(() => existsSync(path.join(socketDir, 'mux')), 10_000, 50);
  return child;
}

/** SIGTERM to its process group, SIGKILL after 5 s; resolves once it has exited. */
export async function stopSaslauthd(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid, 'SIGTERM');
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
