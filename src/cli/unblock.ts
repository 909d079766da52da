/**
 * "saslauthd-mysql unblock USER": lift the compromise signal's block on an
 * account's sending logins, through the running daemon's control socket
 * (RUNDIR/control, found from the same flags and variables as the daemon's;
 * as root with no flags, the installed service's). The daemon lifts it in
 * the throttle store too, when there is one, so on every host.
 */
import net from 'node:net';
import path from 'node:path';
import type { DaemonFlags } from '../config/daemon-config.js';
import { CONTROL_SOCKET_NAME } from '../protocol/control-server.js';
import { resolveOrSay } from './config-print.js';

const ANSWER_TIMEOUT_MS = 10_000;

export async function runUnblock(flags: DaemonFlags, user: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const config = resolveOrSay(flags, env, err);
  if (!config) return 1;
  if (!config.compromise || config.compromise.blockMs <= 0) {
    err.write('problem: this configuration blocks no account (--compromise-block is 0 or the signal is off): nothing to unblock\n');
    return 1;
  }
  if (!/^[^\s\p{Cc}]{1,512}$/u.test(user)) {
    err.write('problem: the user is one mailbox name, as the log line shows it (user=...)\n');
    return 1;
  }
  const socketPath = path.join(config.runDir, CONTROL_SOCKET_NAME);
  try {
    const answer = await ask(socketPath, `UNBLOCK ${user}\n`);
    if (!answer.startsWith('OK ')) {
      err.write(`problem: the daemon answered: ${answer}\n`);
      return 1;
    }
    out.write(`${user}: ${answer.slice(3)}\n`);
    return 0;
  } catch (error) {
    err.write(`problem: cannot reach the daemon at ${socketPath}: ${(error as Error).message} (is it running with --compromise-block, and are you its user or root?)\n`);
    return 1;
  }
}

function ask(socketPath: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    let received = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const line = received.split('\n')[0] ?? '';
      if (line === '') reject(new Error('the connection closed without an answer'));
      else resolve(line);
    });
    socket.end(request);
  });
}
