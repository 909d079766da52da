/**
 * npm run bench:crypt: verification speed per scheme, on one thread and
 * through the worker pool, each beside libxcrypt (through python3's crypt
 * module) in the same run; and event-loop delay while bcrypt keeps every
 * pool thread busy. Prints numbers; asserts nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { PasswordVerifier, verifyOnThisThread } from '../src/crypt/verifier.js';
import { VerifyPools } from '../src/crypt/verify-pool.js';
import { loadNativeCrypt } from '../src/crypt/native-crypt.js';
import { md5crypt } from '../src/crypt/schemes/md5crypt.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? '1.5');
const PASSWORD = 'correct horse';

interface Case {
  readonly name: string;
  /** The crypt(3) setting libxcrypt should hash with, when libxcrypt knows the scheme. */
  readonly libxcryptSetting?: string;
  /** Stored value, when libxcrypt cannot make one. */
  readonly stored?: string;
}

const CASES: Case[] = [
  { name: 'md5crypt $1$', libxcryptSetting: '$1$saltsalt$' },
  { name: 'DES crypt', libxcryptSetting: 'ab' },
  { name: 'sha256crypt $5$ (5000 rounds)', libxcryptSetting: '$5$saltsaltsaltsalt$' },
  { name: 'sha512crypt $6$ (5000 rounds)', libxcryptSetting: '$6$saltsaltsaltsalt$' },
  { name: 'bcrypt $2b$ cost 10', libxcryptSetting: '$2b$10$abcdefghijklmnopqrstuu' },
  { name: 'apr1 $apr1$', stored: md5crypt(Buffer.from(PASSWORD), 'saltsalt', '$apr1$') },
  { name: '{SSHA512}', stored: `{SSHA512}${Buffer.concat([createHash('sha512').update(`${PASSWORD}saltsalt`).digest(), Buffer.from('saltsalt')]).toString('base64')}` },
  { name: '{PLAIN}', stored: `{PLAIN}${PASSWORD}` },
];

/** A python3 whose crypt module works (python 3.13 removed it). */
function findPython(): string | undefined {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    const probe = spawnSync(candidate, ['-W', 'ignore', '-c', 'import crypt; print(crypt.crypt("x", "$1$a$"))'], { encoding: 'utf8' });
    if (probe.status === 0 && probe.stdout.startsWith('$1$')) return candidate;
  }
  return undefined;
}

/** libxcrypt: the stored strings and single-thread verifications per second, measured by python3's crypt. */
function libxcrypt(python: string, settings: string[]): Array<{ stored: string; perSecond: number }> {
  const script = `
import crypt, json, sys, time
settings = json.loads(sys.argv[1]); seconds = float(sys.argv[2]); pw = sys.argv[3]
out = []
for setting in settings:
    stored = crypt.crypt(pw, setting)
    n = 0; start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        crypt.crypt(pw, stored); n += 1
    out.append({'stored': stored, 'perSecond': n / (time.perf_counter() - start)})
print(json.dumps(out))`;
  const result = execFileSync(python, ['-W', 'ignore', '-c', script, JSON.stringify(settings), String(SECONDS), PASSWORD], { encoding: 'utf8' });
  return JSON.parse(result) as Array<{ stored: string; perSecond: number }>;
}

async function singleThread(stored: string): Promise<number> {
  // The algorithm itself on this one thread, as libxcrypt is measured: no pool hand-off.
  const password = Buffer.from(PASSWORD);
  let count = 0;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    if ((await verifyOnThisThread(password, stored, 'crypt')) !== true) throw new Error(`benchmark vector did not verify: ${stored}`);
    count += 1;
  }
  return count / ((performance.now() - start) / 1000);
}

async function concurrent(verifier: PasswordVerifier, stored: string, inFlight: number): Promise<number> {
  const password = Buffer.from(PASSWORD);
  let count = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        await verifier.verify(password, stored);
        count += 1;
      }
    }),
  );
  return count / ((performance.now() - start) / 1000);
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1)).padStart(9);

async function main(): Promise<void> {
  const threads = availableParallelism();
  // The daemon column as the daemon runs: md5crypt, DES and sha-crypt by the native addon when it is built.
  const native = loadNativeCrypt();
  const pools = new VerifyPools({ threads, maxQueue: 10_000 }, native.loaded ? native.binding : undefined);
  const verifier = new PasswordVerifier({ defaultScheme: 'crypt', pools });
  const python = findPython();
  const reference = python ? libxcrypt(python, CASES.flatMap((c) => (c.libxcryptSetting ? [c.libxcryptSetting] : []))) : [];
  let referenceIndex = 0;

  console.log(`saslauthd-mysql crypt benchmark: node ${process.version}, ${threads} cores, ${SECONDS}s per measurement`);
  console.log(python ? `libxcrypt measured through ${python}'s crypt module, same run, same stored strings` : 'libxcrypt: no python3 with a crypt module found; reference column empty');
  console.log(native.loaded ? 'daemon column: md5crypt, DES and sha-crypt by libxcrypt through the native addon, the rest as below' : `daemon column: md5crypt, DES and sha-crypt in JavaScript (${native.reason})`);
  console.log('');
  console.log(`${'scheme'.padEnd(32)}${'ours 1 thr'.padStart(11)}${'libxcrypt'.padStart(11)}${'ratio'.padStart(8)}${'daemon'.padStart(11)}   (verifications per second)`);
  console.log(`(ours 1 thr: the algorithm on one thread; daemon: through the verifier and its ${threads}-thread pools, ${threads * 4} at a time)`);
  for (const testCase of CASES) {
    const ref = testCase.libxcryptSetting ? reference[referenceIndex++] : undefined;
    const stored = testCase.stored ?? ref?.stored ?? '';
    if (!stored) continue;
    const ours = await singleThread(stored);
    const pooled = await concurrent(verifier, stored, threads * 4);
    const ratio = ref ? (ours / ref.perSecond).toFixed(2) : '-';
    console.log(`${testCase.name.padEnd(32)}${fmt(ours)}  ${ref ? fmt(ref.perSecond) : '        -'}${ratio.padStart(8)}${fmt(pooled)}  `);
  }

  // Event-loop delay while every pool thread runs bcrypt, and how long cheap logins wait meanwhile.
  const bcrypt = reference.find((r) => r.stored.startsWith('$2b$'))?.stored ?? '$2y$10$6/nSkWNSOGtxxXD/q6xvROXUXCpwghyV/mB5E9xD4HqQOfZn2gEuy';
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  idle.disable();
  const busy = monitorEventLoopDelay({ resolution: 1 });
  const cheapLatencies: number[] = [];
  let stop = false;
  busy.enable();
  const load = Promise.all(Array.from({ length: threads * 4 }, async () => { while (!stop) await verifier.verify(Buffer.from(PASSWORD), bcrypt); }));
  const cheapStored = md5crypt(Buffer.from(PASSWORD), 'saltsalt');
  const until = performance.now() + SECONDS * 2000;
  while (performance.now() < until) {
    const t = performance.now();
    await verifier.verify(Buffer.from(PASSWORD), cheapStored);
    cheapLatencies.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 10));
  }
  stop = true;
  await load;
  busy.disable();
  cheapLatencies.sort((a, b) => a - b);
  const p99 = (h: typeof idle) => (h.percentile(99) / 1e6).toFixed(2);
  console.log('');
  console.log(`event-loop delay p99: idle ${p99(idle)} ms; with ${threads} pool threads busy on bcrypt cost 10: ${p99(busy)} ms`);
  console.log(`md5crypt logins during that bcrypt burst: p50 ${cheapLatencies[Math.floor(cheapLatencies.length / 2)]!.toFixed(2)} ms, p99 ${cheapLatencies[Math.floor(cheapLatencies.length * 0.99)]!.toFixed(2)} ms (n=${cheapLatencies.length})`);
  await pools.close();
}

await main();
