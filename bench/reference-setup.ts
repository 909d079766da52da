/**
 * The reference's set-up, as npm run bench checks it: whether it can run
 * here at all (root for /etc/pam.d, saslauthd, pam_mysql), and how MariaDB
 * treats the connections it opens for every login (a name looked up for
 * each client address or not).
 */
import { existsSync } from 'node:fs';
import { reverse as dnsLookup } from 'node:dns/promises';
import mysql from 'mysql2/promise';

const PAM_MYSQL = ['/lib/x86_64-linux-gnu/security/pam_mysql.so', '/usr/lib/x86_64-linux-gnu/security/pam_mysql.so', '/lib/security/pam_mysql.so'];

/** Why the reference cannot be measured here, or undefined when it can. */
export function referenceMissing(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (saslauthd -a pam reads only /etc/pam.d)';
  if (!existsSync('/usr/sbin/saslauthd')) return 'saslauthd missing (apt-get install sasl2-bin)';
  if (!PAM_MYSQL.some((file) => existsSync(file))) return 'pam_mysql missing (apt-get install libpam-mysql)';
  return undefined;
}

/**
 * Whether MariaDB resolves a client's address to a name (a reverse lookup per
 * new connection, which the reference makes one or two of per login), and how
 * long this machine takes to resolve the loopback address the way it would.
 */
export async function nameResolution(port: number): Promise<string> {
  const connection = await mysql.createConnection({ host: '127.0.0.1', port, user: 'sasl', password: 'sasl-pw', database: 'postfix' });
  try {
    const [rows] = await connection.query('SELECT @@skip_name_resolve AS skip');
    const skip = Number((rows as Array<{ skip: number }>)[0]!.skip) === 1;
    const started = performance.now();
    await dnsLookup('127.0.0.1').catch(() => undefined);
    const ms = performance.now() - started;
    return `${skip ? 'skip_name_resolve on' : 'client addresses resolved to names (skip_name_resolve off)'}; reverse lookup of 127.0.0.1 here: ${ms.toFixed(2)} ms; both daemons reach it by address (no name to resolve)`;
  } finally {
    await connection.end();
  }
}
