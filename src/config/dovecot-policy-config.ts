/**
 * --dovecot-policy-listen and its secret file, checked together (neither
 * means anything alone): where Dovecot's auth policy requests are served
 * (src/protocol/policy-server.ts), and the secret every request must carry.
 * Also the one reader of a "[host:]port" listen address, which
 * --dovecot-listen shares.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ConfigError, NOT_REPEATED } from '../errors.js';
import type { ThrottleSettings } from '../auth/throttle.js';
import { exposedSecretWarning } from '../common/exposed-file.js';
import { parseInteger } from './parse.js';
import type { OptionReader, Sourced } from './option-reader.js';

export interface DovecotPolicyConfig {
  readonly listen: { readonly host: string; readonly port: number };
  /** The file the secret was read from: what Dovecot's setting names, so the secret is never printed. */
  readonly secretFile: string;
  /** The shared secret: the file's whole content, one word (never printed). */
  readonly secret: string;
  /** Said once at start-up: a secret file others can read. */
  readonly warnings: readonly string[];
}

/** The shortest secret accepted: a guessable one would let any local user post reports. */
export const MIN_POLICY_SECRET_BYTES = 16;

/** A bare port is on loopback: neither Dovecot protocol has authentication of its own beyond what it is given. */
export function parseListenAddress(source: Sourced<string>): { host: string; port: number } {
  const trimmed = source.value.trim();
  const value = /^\d+$/.test(trimmed) ? `127.0.0.1:${trimmed}` : trimmed;
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]+)):(\d+)$/.exec(value);
  const host = match?.[1] ?? match?.[2];
  if (!match || host === undefined || isIP(host) === 0) throw new ConfigError(source.key, `expected a port (on 127.0.0.1), or an IP address and a port, such as 127.0.0.1:12345 or [::1]:12345 (${NOT_REPEATED})`);
  return { host, port: parseInteger(source.key, match[3]!, 0, 65_535) };
}

export function resolveDovecotPolicy(read: OptionReader, cwd: string, throttle: ThrottleSettings): { dovecotPolicy?: DovecotPolicyConfig } {
  const listen = read.text('dovecotPolicyListen');
  const secretSource = read.text('dovecotPolicySecretFile');
  if (!listen) {
    if (secretSource) throw new ConfigError(secretSource.key, 'only means something with --dovecot-policy-listen (SASLAUTHD_MYSQL_DOVECOT_POLICY_LISTEN): set that too, or remove this');
    return {};
  }
  const address = parseListenAddress(listen);
  if (!secretSource) throw new ConfigError(listen.key, "needs --dovecot-policy-secret-file: a file holding the secret Dovecot sends in every request (its auth_policy_server_api_header), e.g. openssl rand -hex 32 | tr -d '\\n' > /etc/saslauthd-mysql/dovecot-policy.secret");
  if (throttle.afterFailures <= 0) throw new ConfigError(listen.key, "serves the throttle to Dovecot, but --throttle-after 0 turns the throttle off: remove one of them");
  const file = path.resolve(cwd, secretSource.value);
  let secret: string;
  try {
    secret = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(secretSource.key, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  // Dovecot reads the same file ("auth_policy_server_api_header = <FILE") byte for byte, and a line break in
  // an HTTP header stops its auth process: the file must hold the word alone.
  const fix = `e.g. openssl rand -hex 32 | tr -d '\\n' > ${file}`;
  if (/^\S+\s+$/.test(secret)) throw new ConfigError(secretSource.key, `${file} ends with a line break or a space, which Dovecot would send in the header as well (its auth process stops on a line break): write the secret alone, ${fix}`);
  if (Buffer.byteLength(secret) < MIN_POLICY_SECRET_BYTES || !/^[\x21-\x7e]+$/.test(secret)) {
    throw new ConfigError(secretSource.key, `${file} must hold one word of ${MIN_POLICY_SECRET_BYTES} or more printable characters and nothing else, as an HTTP header carries it (${fix})`);
  }
  // A new secret in the same file is a change only a restart applies: its digest stands for it.
  read.note('dovecotPolicySecretFile', { file, secret: createHash('sha256').update(secret).digest('base64url') });
  const exposed = exposedSecretWarning(file, "the Dovecot policy listener's secret");
  return { dovecotPolicy: { listen: address, secretFile: file, secret, warnings: exposed ? [exposed] : [] } };
}
