/**
 * The floor for the hot path: a bare Node UNIX-socket server that does what
 * any saslauthd-protocol server must (accept, read the four counted strings,
 * answer, close) and nothing else: no lookup, no hash, no logging, no
 * deadlines. With `--passwords FILE` (one "login TAB password" per line) it
 * answers OK only for the right password and NO otherwise, as a daemon must,
 * so a load with wrong passwords checks its answers too; without, OK to all.
 * Run as a child by the benchmarks: `bare-server.ts SOCKET` or
 * `bare-server.ts [--passwords FILE] -m DIR` (the socket DIR/mux, as the
 * daemon's -m); prints "ready" once listening.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';

const OK = Buffer.from([0, 2, 0x4f, 0x4b]);
const NO = Buffer.from([0, 2, 0x4e, 0x4f]);

const { values, positionals } = parseArgs({ allowPositionals: true, options: { passwords: { type: 'string' }, m: { type: 'string', short: 'm' } } });
const socketPath = values.m === undefined ? positionals[0]! : path.join(values.m, 'mux');
const passwords = values.passwords === undefined ? undefined : new Map(readFileSync(values.passwords, 'utf8').split('\n').filter(Boolean).map((line) => line.split('\t') as [string, string]));

/** The four counted strings (2-byte big-endian length, then the bytes) when `data` holds them all. */
function fields(data: Buffer): string[] | undefined {
  const found: string[] = [];
  let at = 0;
  for (let field = 0; field < 4; field += 1) {
    if (data.length < at + 2) return undefined;
    const length = data.readUInt16BE(at);
    if (data.length < at + 2 + length) return undefined;
    found.push(data.toString('latin1', at + 2, at + 2 + length));
    at += 2 + length;
  }
  return found;
}

const server = net.createServer((socket) => {
  let data: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
    const request = fields(data);
    if (!request) return;
    const [login, password] = request;
    // As the daemon closes (src/protocol/connection.ts): a reply the kernel took at once needs no shutdown before the close.
    socket.write(passwords === undefined || passwords.get(login!) === password ? OK : NO);
    if (socket.writableLength === 0) socket.destroy();
    else socket.end();
  });
  socket.on('error', () => undefined);
});
server.listen(socketPath, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
