/**
 * Memory per cached user (bench:parts runs it with --expose-gc): the heap a
 * cache holds per entry once full, measured by filling each cache the daemon
 * keeps with distinct users and md5crypt-length stored values, after a full
 * collection before and after. Prints one line per cache.
 */
import { CredentialCache } from '../src/cache/credential-cache.js';
import { PasswordDigester } from '../src/cache/password-digest.js';
import { RejectedPasswordCache } from '../src/cache/rejected-cache.js';
import { VerifiedPasswordCache } from '../src/cache/verified-cache.js';

const USERS = 20_000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

function perEntry(fill: (i: number) => void): number {
  const before = heapAfterGc();
  for (let i = 0; i < USERS; i += 1) fill(i);
  return (heapAfterGc() - before) / USERS;
}

const digester = new PasswordDigester();
const user = (i: number) => `user${String(i).padStart(6, '0')}@example.org`;
const stored = (i: number) => `$1$${String(i).padStart(8, '0')}$K1vsTLMwLUBLOT9dwH/Pn0`;
const password = (i: number) => Buffer.from(`password-${i}`);
const keep: unknown[] = [];

const verified = new VerifiedPasswordCache(USERS);
keep.push(verified);
const verifiedBytes = perEntry((i) => verified.remember(user(i), stored(i), undefined, digester.once(password(i)), { scheme: 'MD5-CRYPT', matched: [0] }));
const rejected = new RejectedPasswordCache(USERS);
keep.push(rejected);
const rejectedBytes = perEntry((i) => rejected.remember(user(i), { stored: stored(i), defaultScheme: undefined }, digester.once(password(i)), 'MD5-CRYPT'));
const credential = new CredentialCache(USERS, 3_600_000, digester);
keep.push(credential);
const credentialBytes = perEntry((i) => credential.remember(user(i), 'example.org', 'smtp', password(i), user(i)));

console.log(`  verified cache (default, never stale): ${verifiedBytes.toFixed(0)} bytes per user (one password remembered)`);
console.log(`  rejected cache:                       ${rejectedBytes.toFixed(0)} bytes per user (one wrong password remembered)`);
console.log(`  -c cache:                             ${credentialBytes.toFixed(0)} bytes per user and service`);
console.log(`  at the defaults (10,000 users each, verified + rejected): about ${(((verifiedBytes + rejectedBytes) * 10_000) / 1024 / 1024).toFixed(1)} MB of heap when full (${keep.length} caches kept)`);
