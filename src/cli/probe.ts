/**
 * "saslauthd-mysql test": the same request, output and exit status as Cyrus
 * testsaslauthd, so scripts and habits built on it keep working:
 *   OK  -> '0: OK "Success."', exit 0
 *   NO  -> '0: NO "authentication failed"', exit 255
 *   error (no socket, no reply, short reply) -> '0: ' then a message on stderr, exit 255
 */
import net from 'node:net';
import { encodeRequest, MAX_COUNTED_STRING, ReplyDecoder } from '../protocol/codec.js';
import { systemErrorText } from '../errors.js';

export interface ProbeOptions {
  readonly socketPath: string;
  readonly user: string;
  readonly password: string;
  readonly realm: string;
  readonly service: string;
  readonly repeat: number;
  /** Also print the daemon's reply text, which testsaslauthd hides. */
  readonly showReply: boolean;
  readonly clientAddress?: string;
  /** testsaslauthd waits forever; we give up after this long. */
  readonly timeoutMs: number;
}

type Outcome = { kind: 'reply'; text: Buffer } | { kind: 'error'; message: string };

/** testsaslauthd reads replies into a 1024-byte buffer. */
const MAX_REPLY_BYTES = 1024;

function ask(options: ProbeOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const decoder = new ReplyDecoder();
    let connected = false;
    let settled = false;
    const socket = net.connect({ path: options.socketPath });
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => settle({ kind: 'error', message: `no reply within ${options.timeoutMs} ms` }), options.timeoutMs);

    socket.once('connect', () => {
      connected = true;
      const request = encodeRequest({
        login: options.user,
        password: options.password,
        service: options.service,
        realm: options.realm,
        ...(options.clientAddress === undefined ? {} : { clientAddress: options.clientAddress }),
      }, MAX_COUNTED_STRING);
      socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => {
      const result = decoder.push(chunk);
      if (result.status === 'complete') settle({ kind: 'reply', text: result.reply.subarray(0, MAX_REPLY_BYTES) });
    });
    // testsaslauthd's wording: no length prefix at all, or a prefix without its bytes.
    socket.once('end', () => settle({ kind: 'error', message: decoder.bufferedBytes >= 2 ? 'read failed' : 'size read failed' }));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const text = systemErrorText(error.code) ?? error.message;
      settle({ kind: 'error', message: connected ? `read failed: ${text}` : `connect() : ${text}` });
    });
  });
}

export async function runProbe(options: ProbeOptions, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  let status = 255;
  for (let round = 0; round < Math.max(1, options.repeat); round += 1) {
    stdout.write(`${round}: `);
    const outcome = await ask(options);
    if (outcome.kind === 'error') {
      stderr.write(`${outcome.message}\n`);
      status = 255;
      continue;
    }
    if (outcome.text.length < 2) {
      stderr.write('bad response from saslauthd\n');
      status = 255;
      continue;
    }
    const ok = outcome.text.subarray(0, 2).toString('latin1') === 'OK';
    stdout.write(ok ? 'OK "Success."\n' : 'NO "authentication failed"\n');
    if (options.showReply) stdout.write(`   reply: ${JSON.stringify(outcome.text.toString('utf8'))}\n`);
    status = ok ? 0 : 255;
  }
  return status;
}
