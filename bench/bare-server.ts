/**
 * The floor for the hot path: a bare Node UNIX-socket server that does what
 * any saslauthd-protocol server must (accept, read the four counted strings,
 * answer, close) and nothing else: no lookup, no hash, no logging, no
 * deadlines. Run as a child by bench/floor-run.ts: `bare-server.ts SOCKET`;
 * prints "ready" once listening.
 */
import net from 'node:net';

const OK = Buffer.from([0, 2, 0x4f, 0x4b]);

/** Whether `data` holds four complete counted strings (2-byte big-endian length, then the bytes). */
function complete(data: Buffer): boolean {
  let at = 0;
  for (let field = 0; field < 4; field += 1) {
    if (data.length < at + 2) return false;
    at += 2 + data.readUInt16BE(at);
    if (data.length < at) return false;
  }
  return true;
}

const server = net.createServer((socket) => {
  let data: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
    if (complete(data)) socket.end(OK);
  });
  socket.on('error', () => undefined);
});
server.listen(process.argv[2], () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
