/**
 * Assembles the daemon from its parts and owns their order of start and stop:
 * backend first (a broken configuration fails before the socket exists),
 * then the socket; on the way out, the socket first, then the backend.
 */
import type { Logger } from 'pino';
import type { DaemonConfig } from './config/daemon-config.js';
import { Authenticator } from './auth/authenticator.js';
import { FailureThrottle } from './auth/throttle.js';
import { PasswdFileBackend } from './backends/passwd-file.js';
import { PamBackend } from './backends/pam/pam-backend.js';
import { MysqlBackend } from './backends/mysql/mysql-backend.js';
import type { Backend } from './backends/backend.js';
import { MuxServer } from './protocol/server.js';
import { PasswordVerifier } from './crypt/verifier.js';
import { VerifyPools } from './crypt/verify-pool.js';
import { PasswordDigester } from './cache/password-digest.js';
import { VerifiedPasswordCache } from './cache/verified-cache.js';
import { CredentialCache } from './cache/credential-cache.js';
import { claimSocketPath, finishSocket, releaseSocket, type SocketIdentity } from './protocol/socket-file.js';
import { takeInheritedListener, type InheritedListener } from './protocol/socket-activation.js';

export interface RunningDaemon {
  readonly socketPath: string;
  /** Forget every cached password (SIGHUP). */
  flushCaches(): void;
  /** Stop accepting, finish in-flight requests within the grace period, remove the socket. */
  close(): Promise<void>;
}

export function createBackend(config: DaemonConfig, logger: Logger): Backend & { watch?: () => void } {
  const backend = config.backend;
  switch (backend.kind) {
    case 'passwd-file':
      return new PasswdFileBackend(backend.file, logger.child({ component: 'passwd-file' }));
    case 'pam':
      return new PamBackend({ pamDir: backend.pamDir, tuning: backend.tuning, logger: logger.child({ component: 'pam' }) });
    case 'mysql':
      return new MysqlBackend(backend.settings, logger.child({ component: 'mysql' }));
  }
}

export async function startDaemon(config: DaemonConfig, logger: Logger): Promise<RunningDaemon> {
  const backend = createBackend(config, logger);
  const pools = new VerifyPools(config.verify);
  const verifier = new PasswordVerifier({ defaultScheme: config.defaultScheme, pools });
  const digester = new PasswordDigester();
  const verifiedCache = config.caches.verifiedEntries > 0 ? new VerifiedPasswordCache(config.caches.verifiedEntries, digester) : undefined;
  const credential = config.caches.credential;
  const credentialCache = credential ? new CredentialCache(credential.entries, credential.ttlMs, digester) : undefined;
  const outage = config.caches.outage;
  const outageCache = outage ? new CredentialCache(outage.entries, outage.ttlMs, digester) : undefined;
  const throttle = config.throttle.afterFailures > 0 ? new FailureThrottle(config.throttle) : undefined;
  const authenticator = new Authenticator({
    backend,
    realm: config.realm,
    verifier,
    logger,
    ...(verifiedCache ? { verifiedCache } : {}),
    ...(credentialCache ? { credentialCache } : {}),
    ...(outageCache ? { outageCache } : {}),
    ...(throttle ? { throttle } : {}),
  });
  const server = new MuxServer({
    handler: (request, signal) => authenticator.authenticate(request, signal),
    timeouts: config.timeouts,
    maxConnections: config.maxConnections,
    logger: logger.child({ component: 'server' }),
  });

  let identity: SocketIdentity | undefined;
  let inherited: InheritedListener | undefined;
  try {
    inherited = takeInheritedListener();
    if (inherited) {
      // systemd owns the socket file, its mode and group (the .socket unit): we only accept on it.
      await server.listen({ fd: inherited.fd });
    } else {
      if ((await claimSocketPath(config.socketPath)) === 'replaced-stale') {
        logger.warn({ socket: config.socketPath }, 'removed a stale socket left by an earlier run');
      }
      await server.listen(config.socketPath);
      identity = finishSocket(config.socketPath, config.socket.mode, config.socket.gid);
    }
  } catch (error) {
    await Promise.all([backend.close(), pools.close()]);
    throw error;
  }
  backend.watch?.();

  logger.info(
    {
      socket: inherited ? `fd ${inherited.fd} from systemd${inherited.name ? ` (${inherited.name})` : ''}` : config.socketPath,
      mech: config.mech,
      realmJoin: config.realm.joinRealm,
      ...(inherited ? {} : { mode: `0${config.socket.mode.toString(8)}` }),
    },
    'listening',
  );
  if (config.compatibility.workers !== undefined || config.compatibility.noAcceptLock) {
    logger.debug({ ...config.compatibility }, 'saslauthd -n/-l accepted for compatibility; one process serves all requests concurrently');
  }

  let closing: Promise<void> | undefined;
  return {
    socketPath: config.socketPath,
    flushCaches() {
      verifiedCache?.clear();
      credentialCache?.clear();
      outageCache?.clear();
    },
    close() {
      closing ??= (async () => {
        await server.close(config.shutdownGraceMs);
        // An inherited socket stays: systemd keeps it, and queues logins while we restart.
        if (identity) releaseSocket(identity);
        await Promise.all([backend.close(), pools.close()]);
      })();
      return closing;
    },
  };
}
