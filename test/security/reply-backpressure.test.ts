/**
 * Attack: write requests without end over Dovecot's protocol and never read
 * the answers. Each bad request is answered at once (FAIL code=invalid_base64),
 * so answers pile up unsent in the daemon's memory unless it stops reading
 * from a peer that does not read. Against the real process, over TCP.
 */
import net from 'node:net';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { dovecotPlainLogin } from '../helpers/dovecot-client.js';
import { tempDir } from '../helpers/temp.js';

function rssMegabytes(pid: number): number {
  const kilobytes = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return kilobytes / 1024;
}

/** Write `line` again and again without reading anything, until `totalBytes` went out or the daemon stopped taking them for `stuckMs`. */
function flood(port: number, line: string, totalBytes: number, stuckMs: number): Promise<{ written: number; stuck: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.pause();
    socket.on('error', () => undefined);
    const block = Buffer.from(line.repeat(Math.ceil(65_536 / line.length)));
    let written = 0;
    let finished = false;
    const finish = (stuck: boolean) => {
      if (finished) return;
      finished = true;
      socket.destroy();
      resolve({ written, stuck });
    };
    socket.on('close', () => finish(false));
    const more = (): void => {
      while (written < totalBytes) {
        written += block.length;
        if (!socket.write(block)) {
          const stuck = setTimeout(() => finish(true), stuckMs);
          socket.once('drain', () => {
            clearTimeout(stuck);
            more();
          });
          return;
        }
      }
      finish(false);
    };
    socket.on('connect', () => {
      socket.write('VERSION\t1\t0\nCPID\t1\n');
      more();
    });
  });
}

describe('a peer that writes and never reads', () => {
  it('is not read either: memory stays bounded, and other clients are served', async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `alice@example.org:${DEMO_HASH}\n`);
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--dovecot-listen', '0', '--read-timeout', '20000']);
    const port = Number(String(daemon.records().find((r) => r.msg === 'listening')?.dovecotListen).split(':').at(-1));
    const before = rssMegabytes(daemon.child.pid!);
    const result = await flood(port, 'AUTH\t1\tPLAIN\tservice=smtp\tresp=!!!\n', 150 * 1024 * 1024, 2_000);
    const after = rssMegabytes(daemon.child.pid!);
    process.stderr.write(`[backpressure] wrote ${(result.written / 1048576).toFixed(1)} MB before the daemon ${result.stuck ? 'stopped reading' : 'closed'}; RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MB\n`);
    // The daemon stopped taking the requests long before the 150 MB were out.
    expect(result.written).toBeLessThan(50 * 1024 * 1024);
    expect(after - before).toBeLessThan(40);
    expect(await dovecotPlainLogin({ host: '127.0.0.1', port }, 'alice@example.org', 'demo')).toMatch(/\nOK\t1\tuser=alice@example\.org\n/);
    await daemon.stop();
  }, 60_000);
});
