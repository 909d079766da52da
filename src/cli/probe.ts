/**
 * "saslauthd-mysql test": the same request, output and exit status as Cyrus
 * testsaslauthd, so scripts and habits built on it keep working:
 *   OK  -> '0: OK "Success."', exit 0
 *   NO  -> '0: NO "authentication failed"', exit 255
 *   error (no socket, no reply, short reply) -> '0: ' then a message on stderr, exit 255
 */
import { encodeRequest, MAX_COUNTED_STRING } from '../protocol/codec.js';
import { askDaemon } from '../protocol/client.js';
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

/** testsaslauthd reads replies into a 1024-byte buffer. */
const MAX_REPLY_BYTES = 1024;

type Outcome = { kind: 'reply'; text: Buffer } | { kind: 'error'; message: string };

/** One exchange, with failures worded as testsaslauthd words them. */
async function ask(options: ProbeOptions): Promise<Outcome> {
  const frame = encodeRequest(
    {
      login: options.user,
      password: options.password,
      service: options.service,
      realm: options.realm,
      ...(options.clientAddress === undefined ? {} : { clientAddress: options.clientAddress }),
    },
    MAX_COUNTED_STRING,
  );
  const outcome = await askDaemon(options.socketPath, frame, options.timeoutMs);
  if (outcome.kind === 'reply') return { kind: 'reply', text: outcome.text.subarray(0, MAX_REPLY_BYTES) };
  const text = systemErrorText(outcome.code);
  switch (outcome.stage) {
    case 'connect':
      return { kind: 'error', message: `connect() : ${text ?? 'failed'}` };
    case 'timeout':
      return { kind: 'error', message: `no reply within ${options.timeoutMs} ms` };
    case 'closed':
      // testsaslauthd's wording: no length prefix at all, or a prefix without its bytes.
      return { kind: 'error', message: outcome.replyBytes >= 2 ? 'read failed' : 'size read failed' };
  }
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
