/**
 * The benchmark's open-loop generator (bench/open-loop.ts) against a real
 * daemon: it sends at the rate asked whatever the answers do, finds every
 * answer right when the daemon is right, and counts a wrong one (a daemon
 * that says OK to everything) and a missing one (nobody listening).
 */
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runOpenLoop } from '../../bench/open-loop.js';
import { DEMO_HASH, startTestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';

const base = { ratePerSecond: 200, durationMs: 1000, realm: 'example.org', service: 'smtp', users: [{ login: 'demo', password: 'demo' }], wrongShare: 0.3, requestTimeoutMs: 2000 };

describe('the open-loop generator', () => {
  it('offers the rate asked and finds every answer right when the daemon is right', async () => {
    const { socketPath } = await startTestDaemon([`demo@example.org:${DEMO_HASH}`], { realmJoin: true, throttleAfter: '0' });
    const result = await runOpenLoop({ ...base, socketPath });
    // Poisson arrivals: about 200 in a second.
    expect(result.answeredPerSecond).toBeGreaterThan(120);
    expect(result.answeredPerSecond).toBeLessThan(300);
    expect(result.wrongAnswers).toBe(0);
    expect(result.noReply).toBe(0);
    expect(result.p999Ms).toBeGreaterThanOrEqual(result.p50Ms);
  });

  it('counts an OK for a wrong password, and logins nobody answers', async () => {
    const dir = tempDir();
    const yesMan = path.join(dir, 'yes');
    const server = net.createServer((socket) => socket.end(Buffer.from([0, 2, 0x4f, 0x4b])));
    await new Promise<void>((resolve) => server.listen(yesMan, resolve));
    try {
      const lying = await runOpenLoop({ ...base, socketPath: yesMan });
      expect(lying.wrongAnswers).toBeGreaterThan(20);
    } finally {
      server.close();
    }
    const nobody = await runOpenLoop({ ...base, durationMs: 300, socketPath: path.join(dir, 'absent') });
    expect(nobody.noReply).toBeGreaterThan(20);
    expect(nobody.answeredPerSecond).toBe(0);
  });
});
