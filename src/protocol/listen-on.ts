/**
 * Where a listener listens, as one step with one way back: a socket file
 * claimed, bound privately and given its mode and group (socket-file.ts); a
 * socket systemd passed (socket-activation.ts), which stays systemd's; or a
 * TCP address. The handle says how to name it in the log and how to let go.
 */
import type { Logger } from 'pino';
import type { ListenAddress } from './listener.js';
import { bindPrivately, claimSocketPath, finishSocket, listenError, releaseSocket } from './socket-file.js';

export type ListenSpec =
  | { readonly kind: 'path'; readonly path: string; readonly mode: number; readonly gid?: number }
  | { readonly kind: 'inherited'; readonly fd: number; readonly name: string | undefined }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

export interface Listening {
  /** For the start-up line: the path, "fd 3 from systemd (name)", or host:port. */
  readonly description: string;
  /** The TCP port bound (useful with port 0). */
  readonly port?: number;
  /** Let go of what listening made: the socket file, if it is still ours. Systemd keeps its own socket, and queues logins while we restart. */
  release(): void;
}

const NOTHING_TO_RELEASE = (): void => undefined;

export async function listenOn(listener: { listen(where: ListenAddress): Promise<number | undefined> }, spec: ListenSpec, logger: Logger): Promise<Listening> {
  switch (spec.kind) {
    case 'inherited':
      // systemd owns the socket file, its mode and group (the .socket unit): we only accept on it.
      await listener.listen({ fd: spec.fd });
      return { description: `fd ${spec.fd} from systemd${spec.name ? ` (${spec.name})` : ''}`, release: NOTHING_TO_RELEASE };
    case 'tcp': {
      const port = await listener.listen({ host: spec.host, port: spec.port });
      return { description: `${spec.host}:${port ?? spec.port}`, ...(port === undefined ? {} : { port }), release: NOTHING_TO_RELEASE };
    }
    case 'path': {
      if ((await claimSocketPath(spec.path, spec.gid)) === 'replaced-stale') logger.warn({ socket: spec.path }, 'removed a stale socket left by an earlier run');
      await bindPrivately(() => listener.listen({ path: spec.path })).catch((error: unknown) => {
        throw listenError(spec.path, error);
      });
      const identity = finishSocket(spec.path, spec.mode, spec.gid);
      return { description: spec.path, release: () => releaseSocket(identity) };
    }
  }
}
