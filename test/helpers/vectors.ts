/**
 * The hash vectors in test/vectors/, made by independent implementations
 * (doveadm, OpenSSL, libxcrypt, PHP: see the make-*.sh scripts beside them),
 * read in one place.
 */
import { readFileSync } from 'node:fs';

export interface HashVector {
  readonly maker: string;
  readonly label: string;
  readonly password: Buffer;
  /** pam_mysql's crypt= name the value needs, or '-' when the value names its own scheme. */
  readonly defaultName: string;
  readonly stored: string;
}

/** Rows of a vector file, without its header line. */
function rows(file: string): string[][] {
  return readFileSync(new URL(`../vectors/${file}`, import.meta.url), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t'));
}

let hashes: readonly HashVector[] | undefined;

/** test/vectors/hashes.tsv: every scheme, as stored values real tables hold. */
export function hashVectors(): readonly HashVector[] {
  hashes ??= rows('hashes.tsv').map(([maker, label, passwordHex, defaultName, stored]) => ({ maker: maker!, label: label!, password: Buffer.from(passwordHex!, 'hex'), defaultName: defaultName!, stored: stored! }));
  return hashes;
}

/** One stored value from hashes.tsv, by maker, label and password. */
export function vector(maker: string, label: string, password: string): string {
  const found = hashVectors().find((row) => row.maker === maker && row.label === label && row.password.equals(Buffer.from(password, 'utf8')));
  if (!found) throw new Error(`no vector ${maker} / ${label} / ${password}`);
  return found.stored;
}

/** test/vectors/md5crypt.tsv: md5crypt from OpenSSL and libxcrypt. */
export function md5cryptVectors(): Array<{ maker: string; password: Buffer; hash: string }> {
  return rows('md5crypt.tsv').map(([maker, passwordHex, hash]) => ({ maker: maker!, password: Buffer.from(passwordHex!, 'hex'), hash: hash! }));
}
