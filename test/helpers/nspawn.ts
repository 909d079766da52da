/**
 * A fresh Debian machine (13 "trixie", the current stable, or 12 "bookworm")
 * with a real systemd as PID 1, on this host: a rootfs made by debootstrap, packages installed into it with apt (through
 * the host's network, before boot), then booted with systemd-nspawn -b on a
 * private network (loopback only). Commands run inside with nsenter into the
 * container's namespaces. The host needs no systemd of its own: nspawn runs
 * with --register=no --keep-unit. `destroy` powers it off and removes the
 * rootfs.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/** The Debian releases the package is tested on: the current stable and the one before. */
export const DEBIAN_RELEASES = { trixie: 13, bookworm: 12 } as const;
export type DebianRelease = keyof typeof DEBIAN_RELEASES;

/** What is missing to boot a container here, as instructions (the suite fails on these). */
export function nspawnProblems(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('it must run as root (debootstrap, systemd-nspawn)');
  if (!existsSync('/usr/sbin/debootstrap')) problems.push('debootstrap is missing: apt-get install debootstrap');
  if (!existsSync('/usr/bin/systemd-nspawn')) problems.push('systemd-nspawn is missing: apt-get install systemd-container');
  if (!existsSync('/usr/bin/dpkg-repack')) problems.push('dpkg-repack is missing (it repacks the host\'s Node.js 20 for the machine): apt-get install dpkg-repack');
  return problems;
}

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class DebianMachine {
  readonly root: string;
  readonly #dir: string;
  #nspawn: ChildProcess | undefined;
  #leader: number | undefined;
  #console = '';

  private constructor(dir: string) {
    this.#dir = dir;
    this.root = path.join(dir, 'rootfs');
  }

  /** debootstrap the release (minbase, systemd as init), in a directory under /var/tmp. */
  static create(release: DebianRelease, include: readonly string[] = []): DebianMachine {
    const machine = new DebianMachine(mkdtempSync('/var/tmp/sm-debian-'));
    try {
      execFileSync('debootstrap', ['--variant=minbase', `--include=${['systemd', 'systemd-sysv', 'dbus', ...include].join(',')}`, release, machine.root, DEBIAN_MIRROR], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
    } catch (error) {
      rmSync(machine.#dir, { recursive: true, force: true });
      throw new Error(`debootstrap failed: ${(error as { stderr?: Buffer }).stderr?.toString().slice(-2000) ?? (error as Error).message}`);
    }
    return machine;
  }

  /** Before boot: a command in the rootfs, with the host's network (apt). */
  prepare(script: string): RunResult {
    const result = spawnSync('systemd-nspawn', ['-D', this.root, '--register=no', '--keep-unit', '--pipe', '-q', '--resolv-conf=copy-host', '/bin/sh', '-ec', script], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /** Copy a host file into the rootfs; returns its path inside. */
  copyIn(file: string, inside = `/root/${path.basename(file)}`): string {
    copyFileSync(file, path.join(this.root, inside));
    return inside;
  }

  /** Boot systemd as PID 1 on a private network; resolves when systemd says the system is up. */
  async boot(): Promise<void> {
    const child = spawn('systemd-nspawn', ['-D', this.root, '--register=no', '--keep-unit', '--private-network', '-b', '--console=pipe'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#nspawn = child;
    const keep = (chunk: Buffer) => (this.#console = (this.#console + chunk.toString()).slice(-20_000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const deadline = Date.now() + 90_000;
    let state = '(no PID 1 yet)';
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the container exited during boot:\n${this.#console}`);
      this.#leader ??= leaderOf(child.pid!);
      if (this.#leader !== undefined) {
        state = this.run('systemctl is-system-running').stdout.trim();
        if (state === 'running' || state === 'degraded') return;
      }
      if (Date.now() > deadline) {
        const jobs = this.#leader === undefined ? '' : this.run('systemctl list-jobs --no-pager; systemctl --failed --no-pager').stdout;
        throw new Error(`the container did not finish booting within 90 s (systemctl is-system-running: ${state || '(nothing)'}):\n${jobs}\n${this.#console}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** After boot: a shell command inside the running machine (its namespaces, its systemd). */
  run(script: string, timeoutMs = 120_000): RunResult {
    if (this.#leader === undefined) throw new Error('the machine is not booted');
    const result = spawnSync('nsenter', ['-t', String(this.#leader), '-a', '/bin/sh', '-c', script], { encoding: 'utf8', timeout: timeoutMs, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' } });
    return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
  }

  get console(): string {
    return this.#console;
  }

  async destroy(): Promise<void> {
    const child = this.#nspawn;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      this.#leader ??= leaderOf(child.pid!);
      const leader = this.#leader;
      if (leader !== undefined) this.run('systemctl poweroff --no-block', 10_000);
      // Killing nspawn alone would leave the machine's systemd running, orphaned: its PID 1 goes first.
      const timer = setTimeout(() => {
        if (leader !== undefined) spawnSync('kill', ['-KILL', String(leader)]);
        child.kill('SIGKILL');
      }, 30_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/**
 * The container's PID 1 as the host sees it: nspawn's child once it runs systemd. Before that,
 * nspawn's children are its own short-lived helpers; taking one of those for the leader would
 * leave every later nsenter pointing at a process that is gone.
 */
function leaderOf(nspawnPid: number): number | undefined {
  const children = spawnSync('pgrep', ['-P', String(nspawnPid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  return children.map(Number).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd';
    } catch {
      return false;
    }
  });
}
