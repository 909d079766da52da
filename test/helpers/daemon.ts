import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterThisTest } from './cleanup.js';
import { resolveDaemonConfig, type DaemonFlags } from '../../src/config/daemon-config.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon.js';
import { logSink, type LogSink } from './log-sink.js';
import { tempDir } from './temp.js';

/** `openssl passwd -1 -salt demosalt demo`: the demo account's md5crypt hash. */
export const DEMO_HASH = '$1$demosalt$K1vsTLMwLUBLOT9dwH/Pn0';

export interface TestDaemon {
  readonly daemon: RunningDaemon;
  readonly socketPath: string;
  readonly passwdFile: string;
  readonly dir: string;
  readonly sink: LogSink;
}

/** An in-process daemon for any mechanism, configured by flags and an environment (SASLAUTHD_MYSQL_*). */
export async function startConfiguredDaemon(flags: Partial<DaemonFlags>, env: Record<string, string>): Promise<Omit<TestDaemon, 'passwdFile'>> {
  const dir = tempDir();
  const config = resolveDaemonConfig({ runDir: path.join(dir, 'run'), ...flags }, env);
  const sink = logSink('trace');
  const daemon = await startDaemon(config, sink.logger);
  afterThisTest(() => daemon.close());
  return { daemon, socketPath: config.socketPath, dir, sink };
}

/** An in-process daemon on a passwd-file with the given lines, in its own temp dir. */
export async function startTestDaemon(lines: string[], flags: Partial<DaemonFlags> = {}): Promise<TestDaemon> {
  const dir = tempDir();
  const passwdFile = path.join(dir, 'passwd');
  writeFileSync(passwdFile, `${lines.join('\n')}\n`);
  const config = resolveDaemonConfig({ mech: 'passwd-file', passwdFile, runDir: path.join(dir, 'run'), ...flags }, {});
  const sink = logSink('trace');
  const daemon = await startDaemon(config, sink.logger);
  afterThisTest(() => daemon.close());
  return { daemon, socketPath: config.socketPath, passwdFile, dir, sink };
}

export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 8000, stepMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
