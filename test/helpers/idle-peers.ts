/**
 * Local peers that open connections to a Dovecot-protocol socket, do the
 * handshake, and then hold them idle, each peer as a user of its own (a child
 * process under that uid; needs root): the attack of a local user on a
 * shared listener. Each keeps `count` connections open and, unless told not
 * to, opens a new one whenever one is closed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterThisTest } from './cleanup.js';

const SCRIPT = `
const net = require('node:net');
const [path, count, reconnect] = process.argv.slice(1);
let open = 0;
const one = () => {
  const socket = net.connect({ path });
  let counted = false;
  socket.on('connect', () => { counted = true; open += 1; socket.write('VERSION\\t1\\t0\\nCPID\\t' + process.pid + '\\n'); });
  socket.on('data', () => undefined);
  socket.on('error', () => undefined);
  socket.on('close', () => { if (counted) open -= 1; if (reconnect === 'yes') setTimeout(one, 200); });
};
for (let i = 0; i < Number(count); i += 1) one();
setInterval(() => process.stdout.write('open ' + open + '\\n'), 50);
`;

export interface IdlePeer {
  /** Connections of this peer the daemon has not closed. */
  open(): number;
  stop(): void;
}

export function idlePeer(socketPath: string, uid: number, count: number, options: { reconnect?: boolean } = {}): IdlePeer {
  const child: ChildProcess = spawn(process.execPath, ['-e', SCRIPT, socketPath, String(count), options.reconnect ? 'yes' : 'no'], { uid, gid: uid, stdio: ['ignore', 'pipe', 'inherit'] });
  let open = 0;
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const last = /open (\d+)\n$/.exec(chunk);
    if (last) open = Number(last[1]);
  });
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  afterThisTest(stop);
  return { open: () => open, stop };
}
