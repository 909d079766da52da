/**
 * "saslauthd-mysql hash": a stored value for the mailbox table's password
 * column, for a password read from a prompt or standard input.
 */
import { HASH_SCHEMES, makeStoredValue, readableByCrypt3, type HashScheme, type MakeOptions } from '../crypt/make-stored-value.js';
import { PasswordInputError, readNewPassword } from './read-password.js';
import { recogniseCryptString } from '../crypt/schemes/crypt-strings.js';

export interface HashOptions extends MakeOptions {
  readonly scheme: string;
}

export async function runHash(options: HashOptions, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  const scheme = options.scheme.toUpperCase();
  if (!(HASH_SCHEMES as readonly string[]).includes(scheme)) {
    stderr.write(`saslauthd-mysql hash: unknown scheme "${options.scheme}"; choose one of: ${HASH_SCHEMES.join(', ')}\n`);
    return 1;
  }
  let password: Buffer | undefined;
  try {
    password = await readNewPassword();
    const value = await makeStoredValue(scheme as HashScheme, password, options);
    stdout.write(`${value}\n`);
    const overCeiling = recogniseCryptString(value.replace(/^\{[^}]*\}/, ''))?.overCeiling;
    // The daemon's defaults would refuse the value this wrote: say so now, not at the first login.
    if (overCeiling) stderr.write(`note: ${overCeiling.replace(': not computed', '')}: the daemon refuses this value unless that option is raised\n`);
    if (!readableByCrypt3(scheme as HashScheme, options)) {
      // Worth knowing before rolling back to saslauthd + pam_mysql crypt=1, which cannot read it.
      stderr.write(`note: pam_mysql (crypt=1) cannot read this value; saslauthd-mysql and Dovecot can\n`);
    }
    return 0;
  } catch (error) {
    if (error instanceof PasswordInputError || error instanceof RangeError) {
      stderr.write(`saslauthd-mysql hash: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    password?.fill(0);
  }
}
