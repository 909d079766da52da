/**
 * Builds the optional native addons (libxcrypt for md5crypt and DES; a UNIX
 * socket's peer credentials for the listener's per-peer limit; systemd's
 * readiness message, a datagram Node cannot send; saslauthd's socket
 * served on libuv's handles without Node's streams) as part of
 * "npm run build", and when the package is installed (its "install" script).
 * Without a C compiler, make, python3 or libcrypt-dev it says so and the
 * daemon computes those schemes in JavaScript instead; nothing fails.
 * node-gyp comes with npm and is on PATH inside npm scripts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const addon = `${here}build/Release/saslauthd_mysql_crypt.node`;
const addons = [addon, `${here}build/Release/saslauthd_mysql_peer.node`, `${here}build/Release/saslauthd_mysql_notify.node`, `${here}build/Release/saslauthd_mysql_listen.node`];
const sources = [`${here}binding.gyp`, `${here}src/crypt_addon.c`, `${here}src/peer_addon.c`, `${here}src/notify_addon.c`, `${here}src/listen_addon.c`, `${here}src/listen_handles.c`, `${here}src/listen_handles.h`];

const newest = Math.max(...sources.map((file) => statSync(file).mtimeMs));
if (addons.every((file) => existsSync(file) && statSync(file).mtimeMs >= newest)) process.exit(0);

const result = spawnSync('node-gyp', ['rebuild', '--directory', here], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (result.status === 0) {
  console.log(`native addons built: ${addons.join(', ')}`);
} else {
  // An addon built from older sources must not stay behind and be loaded.
  rmSync(`${here}build`, { recursive: true, force: true });
  const why = result.error ? `node-gyp could not run (${result.error.message}); run the build through npm` : result.stderr.split('\n').filter((line) => /error/i.test(line)).slice(0, 5).join('\n');
  // In a checkout the build script runs this; in an installed package, npm's install step does.
  const again = process.env.npm_lifecycle_event === 'install' ? 'npm rebuild -g saslauthd-mysql (or install the package again)' : 'npm run build';
  console.warn(`native addon NOT built: md5crypt, DES and sha-crypt will run in JavaScript (about half the speed), connections on UNIX sockets are not limited per peer user, the daemon cannot tell systemd it is ready (a Type=notify unit needs Type=exec instead), and saslauthd's socket is served through Node's streams (slower); the daemon works without it.\n${why}\nTo build it: apt-get install g++ make python3 libcrypt-dev, then ${again}.`);
}
