/**
 * Who is at the other end of a connection, for the listener's per-peer
 * limit: over TCP its address; on a UNIX socket the user the kernel says it
 * runs as (SO_PEERCRED, through the small native addon
 * native/src/peer_addon.c), which the peer cannot choose. Where neither can
 * be told (no addon built), the connection counts under no peer: the cap and
 * the eviction of idle connections still hold.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AcceptedSocket } from './accepted-socket.js';
import { fileURLToPath } from 'node:url';

/** Same place from dist/protocol and, under the test runner, from src/protocol. */
export const PEER_ADDON_FILE = fileURLToPath(new URL('../../native/build/Release/saslauthd_mysql_peer.node', import.meta.url));

interface PeerBinding {
  peerCredentials(fd: number): { readonly pid: number; readonly uid: number; readonly gid: number } | null;
}

let binding: PeerBinding | null | undefined;

function peerBinding(): PeerBinding | null {
  if (binding !== undefined) return binding;
  try {
    const loaded = existsSync(PEER_ADDON_FILE) ? (createRequire(import.meta.url)(PEER_ADDON_FILE) as PeerBinding) : null;
    binding = loaded && typeof loaded.peerCredentials === 'function' ? loaded : null;
  } catch {
    binding = null;
  }
  return binding;
}

/** Whether peers on UNIX sockets can be told apart (the addon is built). */
export function canTellUnixPeers(): boolean {
  return peerBinding() !== null;
}

/**
 * The peer a connection counts under: "address 192.0.2.1" over TCP, "uid 105"
 * on a UNIX socket, undefined when it cannot be told. `transport`, when the
 * listener knows it, spares asking the kernel for a UNIX socket's address,
 * which it does not have: a system call per connection on the hot path.
 */
export function peerOf(socket: AcceptedSocket, transport?: 'unix' | 'tcp'): string | undefined {
  // The native UNIX listener's sockets ask the kernel themselves (native-unix-server.ts).
  if (socket.peerCredentials) {
    const credentials = socket.peerCredentials();
    return credentials ? `uid ${credentials.uid}` : undefined;
  }
  if (transport !== 'unix') {
    const address = socket.remoteAddress;
    if (address !== undefined) return `address ${address}`;
    if (transport === 'tcp') return undefined;
  }
  // libuv's handle: the connected socket's descriptor (Node has no public way to it).
  const fd = (socket as unknown as { readonly _handle?: { readonly fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return undefined;
  const credentials = peerBinding()?.peerCredentials(fd);
  return credentials ? `uid ${credentials.uid}` : undefined;
}
