/**
 * Where the reader finds a page of the docs on this machine, for messages
 * that send an administrator there: the Debian package's
 * /usr/share/doc/saslauthd-mysql/, else the docs/ of this copy (a checkout,
 * or an npm install, which ships them), else the page's name in the
 * repository.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PACKAGED = '/usr/share/doc/saslauthd-mysql';

export function docPath(page: string): string {
  const packaged = `${PACKAGED}/${page}`;
  if (existsSync(packaged)) return packaged;
  const own = fileURLToPath(new URL(`../../docs/${page}`, import.meta.url));
  return existsSync(own) ? own : `docs/${page}`;
}
