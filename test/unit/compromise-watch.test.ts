/** The compromised-account signal (src/auth/compromise-watch.ts), on a clock the test moves. */
import { describe, expect, it } from 'vitest';
import { CompromiseWatch, type CompromiseSettings } from '../../src/auth/compromise-watch.js';
import { logSink } from '../helpers/log-sink.js';

const SETTINGS: CompromiseSettings = { networks: 3, windowMs: 60_000, ipv4PrefixBits: 24, ipv6PrefixBits: 64, blockMs: 0 };

function watch(settings: Partial<CompromiseSettings> = {}) {
  const sink = logSink('trace');
  const clock = { t: 1_000_000, now: () => clock.t };
  const signals: string[] = [];
  const watcher = new CompromiseWatch({ ...SETTINGS, ...settings }, sink.logger, { clock, onSignal: (service) => signals.push(service) });
  const lines = () => sink.records().filter((record) => record.event === 'compromise');
  return { watcher, clock, signals, lines };
}

describe('the compromise watch', () => {
  it('raises the signal once when an account logs in from enough networks within the window', () => {
    const { watcher, signals, lines } = watch();
    watcher.success('alice', '192.0.2.1', 'imap');
    watcher.success('alice', '192.0.2.200', 'imap'); // the same /24
    watcher.success('alice', '198.51.100.1', 'smtp');
    expect(lines()).toEqual([]);
    watcher.success('alice', '203.0.113.1', 'smtp');
    expect(signals).toEqual(['smtp']);
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ level: 40, user: 'alice', networks: 3, remote: '203.0.113.1', action: 'none' });
    expect(String(lines()[0]!.msg)).toMatch(/^compromise: \[user=alice\] \[networks=3\] \[window=60s\]/);
    // Once per window, however many more come.
    watcher.success('alice', '233.252.0.1', 'smtp');
    expect(lines()).toHaveLength(1);
    // Another account is its own.
    watcher.success('bob', '192.0.2.1', 'smtp');
    expect(lines()).toHaveLength(1);
  });

  it('forgets networks older than the window, and counts an IPv6 /64 as one network', () => {
    const { watcher, clock, lines } = watch();
    watcher.success('alice', '192.0.2.1', 'imap');
    watcher.success('alice', '198.51.100.1', 'imap');
    clock.t += 61_000;
    watcher.success('alice', '203.0.113.1', 'imap');
    expect(lines()).toEqual([]);
    watcher.success('alice', '2001:db8:1:2::1', 'imap');
    watcher.success('alice', '2001:db8:1:2:ffff::9', 'imap');
    expect(lines()).toEqual([]);
    watcher.success('alice', '2001:db8:1:3::1', 'imap');
    expect(lines()).toHaveLength(1);
    // Not an address: nothing to count.
    watcher.success('carol', 'not-an-address', 'imap');
  });

  it('blocks sending logins for the time given, and unblock ends it early', async () => {
    const { watcher, clock, lines } = watch({ blockMs: 30_000 });
    expect(watcher.blocking).toBe(true);
    for (const address of ['192.0.2.1', '198.51.100.1', '203.0.113.1']) watcher.success('alice', address, 'smtp');
    expect(lines()[0]).toMatchObject({ action: 'sending logins refused for 30 s, or until saslauthd-mysql unblock' });
    expect(await watcher.isBlocked('alice')).toBe(true);
    expect(await watcher.isBlocked('bob')).toBe(false);
    clock.t += 31_000;
    expect(await watcher.isBlocked('alice')).toBe(false);
    // Again, and lifted by hand; the account starts over.
    clock.t += 60_000;
    for (const address of ['192.0.2.1', '198.51.100.1', '203.0.113.1']) watcher.success('alice', address, 'smtp');
    expect(await watcher.isBlocked('alice')).toBe(true);
    expect(await watcher.unblock('alice')).toBe(true);
    expect(await watcher.isBlocked('alice')).toBe(false);
    expect(await watcher.unblock('alice')).toBe(false);
    expect(lines().at(-1)).toMatchObject({ action: 'unblock', user: 'alice' });
  });

  it('refuses a setting that makes every login a signal', () => {
    expect(() => watch({ networks: 1 })).toThrow(RangeError);
  });
});
