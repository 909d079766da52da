/**
 * Assembles the daemon from its parts and owns their order of start and stop:
 * backend first (a broken configuration fails before the socket exists),
 * then the socket; on the way out, the socket first, then the backend.
 * A reload (SIGHUP) swaps the backend and caches under a listening socket.
 */
import type { Logger } from 'pino';
import type { DaemonConfig } from './config/daemon-config.js';
import { FailureThrottle, OWNER_ADDRESS_MS } from './auth/throttle.js';
import type { ThrottleStore } from './auth/throttle-store.js';
import { AuthGeneration } from './auth-generation.js';
import { muxReply } from './auth/mux-reply.js';
import type { DaemonMetrics } from './metrics/daemon-metrics.js';
import type { MetricsServer } from './metrics/metrics-server.js';
import { ConfigError, DaemonError, describeError, ErrorCodes } from './errors.js';
import { createBackend } from './backends/index.js';
import { MuxServer } from './protocol/server.js';
import type { DovecotServer } from './protocol/dovecot-server.js';
import { VerifyPools } from './crypt/verify-pool.js';
import { loadNativeCrypt, type NativeCrypt } from './crypt/native-crypt.js';
import { offloadFor } from './crypt/native-lane.js';
import { bindPrivately, claimSocketPath, finishSocket, listenError, releaseSocket, type SocketIdentity } from './protocol/socket-file.js';
import { takeInheritedListeners, type InheritedListener } from './protocol/socket-activation.js';

export interface ReloadReport {
  /** Requests the replaced configuration still had to answer; they finish on it. */
  readonly inFlightOnPrevious: number;
  /** Settings that changed but are only read at start-up. */
  readonly restartNeeded: readonly string[];
}

export interface RunningDaemon {
  readonly socketPath: string;
  /** The port /metrics is served on, when metrics are enabled (useful with port 0). */
  readonly metricsPort: number | undefined;
  /** The TCP port of Dovecot's auth protocol, when --dovecot-listen asked for one (useful with port 0). */
  readonly dovecotPort: number | undefined;
  /** Forget every cached password. */
  flushCaches(): void;
  /**
   * Switch to a new configuration (SIGHUP): new backend, empty caches, requests
   * in flight finish on the old one. Throws, changing nothing, when the new
   * configuration cannot be used.
   */
  reload(config: DaemonConfig): Promise<ReloadReport>;
  /** Stop accepting, finish in-flight requests within the grace period, remove the socket. */
  close(): Promise<void>;
}

/** The addon for md5crypt, DES and sha-crypt, as --crypt-engine asks; 'native' insists, 'auto' says why it goes without. */
function chooseNativeCrypt({ engine, threads }: DaemonConfig['verify'], logger: Logger): NativeCrypt | undefined {
  if (engine === 'js') return undefined;
  const load = loadNativeCrypt();
  if (load.loaded) {
    logger.debug({ addon: load.file }, 'md5crypt, DES and sha-crypt: libxcrypt through the native addon');
    const offload = offloadFor(threads);
    if (offload < threads - 1) logger.info({ threads, offload }, `md5crypt uses ${offload} of libuv's threads besides the event loop: set UV_THREADPOOL_SIZE=${threads} to use every core`);
    return load.binding;
  }
  if (engine === 'native') throw new ConfigError('--crypt-engine', `native was asked for, but ${load.reason}`);
  logger.warn({ reason: load.reason }, 'md5crypt, DES and sha-crypt run in JavaScript, several times slower than with the native addon');
  return undefined;
}

export async function startDaemon(config: DaemonConfig, logger: Logger): Promise<RunningDaemon> {
  const pools = new VerifyPools(config.verify, chooseNativeCrypt(config.verify, logger));
  const throttleStore = config.throttleStore ? await openThrottleStore(config, logger) : undefined;
  const makeThrottle = (settings: DaemonConfig['throttle']) => (settings.afterFailures > 0 ? new FailureThrottle(settings, undefined, throttleStore) : undefined);
  let throttle = makeThrottle(config.throttle);
  let running = config;
  // Declared before the metrics that read it, assigned once the generation exists.
  // eslint-disable-next-line prefer-const
  let server: MuxServer | undefined;
  // Loaded only when asked for: prom-client and node:http cost a few MB a daemon without metrics need not carry.
  const metricsModules = config.metrics ? await Promise.all([import('./metrics/daemon-metrics.js'), import('./metrics/metrics-server.js')]) : undefined;
  const metrics: DaemonMetrics | undefined = metricsModules
    ? new metricsModules[0].DaemonMetrics({ openConnections: () => server?.connectionCount ?? 0, heldConnections: () => server?.waitingCount ?? 0, verifyQueue: () => ({ fast: pools.fast.queueSize, slow: pools.slow.queueSize }) })
    : undefined;
  let current: AuthGeneration;
  try {
    current = new AuthGeneration({ config, backend: createBackend(config.backend, logger), logger, pools, throttle, metrics });
  } catch (error) {
    await pools.close();
    throw error;
  }
  /** Generations replaced by a reload that still have requests to answer. */
  const retiring = new Set<Promise<void>>();
  server = new MuxServer({
    // Read `current` per request: after a reload, new requests go to the new generation.
    handler: (request, cancellation, park) => current.authenticate(request, cancellation, park, muxReply),
    timeouts: config.timeouts,
    maxConnections: config.maxConnections,
    logger: logger.child({ component: 'server' }),
  });

  // What systemd passed, if it started us (read once, before anything else could).
  const passed = takeInheritedListeners();
  // Dovecot's auth protocol, when asked for (or when systemd passed its socket): the same generation
  // (backend, caches, throttle), another way in.
  // Loaded only when asked for, as the metrics are: a daemon without it need not carry it.
  const dovecotModules = config.dovecot || passed.dovecot ? await Promise.all([import('./protocol/dovecot-server.js'), import('./auth/dovecot-reply.js')]) : undefined;
  const dovecotServer: DovecotServer | undefined = dovecotModules
    ? new dovecotModules[0].DovecotServer({
        handler: (request, cancellation) => current.authenticateNamed(request, cancellation, dovecotModules[1].dovecotReply),
        timeouts: { handshakeTimeoutMs: config.timeouts.readTimeoutMs, answerTimeoutMs: config.timeouts.answerTimeoutMs, responseTimeoutMs: config.timeouts.readTimeoutMs },
        maxConnections: config.maxConnections,
        policy: { plaintextNeedsTls: config.dovecot?.plaintextNeedsTls ?? false },
        logger: logger.child({ component: 'dovecot' }),
      })
    : undefined;
  let dovecotIdentity: SocketIdentity | undefined;
  let dovecotPort: number | undefined;

  let identity: SocketIdentity | undefined;
  let inherited: InheritedListener | undefined;
  let metricsServer: MetricsServer | undefined;
  try {
    // Before the socket: a port in use stops start-up before any login could be taken.
    metricsServer = metrics && metricsModules && config.metrics ? await metricsModules[1].startMetricsServer(metrics.registry, config.metrics.host, config.metrics.port, logger) : undefined;
    inherited = passed.mux;
    if (inherited) {
      // systemd owns the socket file, its mode and group (the .socket unit): we only accept on it.
      await server.listen({ fd: inherited.fd });
    } else {
      if ((await claimSocketPath(config.socketPath, config.socket.gid)) === 'replaced-stale') {
        logger.warn({ socket: config.socketPath }, 'removed a stale socket left by an earlier run');
      }
      await bindPrivately(() => server.listen(config.socketPath)).catch((error: unknown) => {
        throw listenError(config.socketPath, error);
      });
      identity = finishSocket(config.socketPath, config.socket.mode, config.socket.gid);
    }
    if (dovecotServer && passed.dovecot) {
      await dovecotServer.listen({ fd: passed.dovecot.fd });
    } else if (dovecotServer && config.dovecot?.socketPath) {
      const socketPath = config.dovecot.socketPath;
      if ((await claimSocketPath(socketPath, config.socket.gid)) === 'replaced-stale') logger.warn({ socket: socketPath }, 'removed a stale socket left by an earlier run');
      await bindPrivately(() => dovecotServer.listen(socketPath)).catch((error: unknown) => {
        throw listenError(socketPath, error);
      });
      dovecotIdentity = finishSocket(socketPath, config.socket.mode, config.socket.gid);
    }
    if (dovecotServer && config.dovecot?.listen) dovecotPort = await dovecotServer.listen(config.dovecot.listen);
  } catch (error) {
    await dovecotServer?.close(0);
    if (dovecotIdentity) releaseSocket(dovecotIdentity);
    if (identity) releaseSocket(identity);
    await server.close(0);
    await metricsServer?.close();
    await Promise.all([current.backend.close(), pools.close()]);
    throw error;
  }
  current.backend.watch();
  if (metricsServer) logger.info({ metrics: `http://${config.metrics!.host}:${metricsServer.port}/metrics` }, 'serving Prometheus metrics');

  logger.info(
    {
      socket: inherited ? `fd ${inherited.fd} from systemd${inherited.name ? ` (${inherited.name})` : ''}` : config.socketPath,
      mech: config.mech,
      realmJoin: config.realm.joinRealm,
      // Who computes md5crypt, DES and sha-crypt: libxcrypt (native) or JavaScript (js).
      crypt: pools.fastEngine,
      ...(inherited ? {} : { mode: `0${config.socket.mode.toString(8)}` }),
      ...(passed.dovecot ? { dovecotSocket: `fd ${passed.dovecot.fd} from systemd` } : config.dovecot?.socketPath ? { dovecotSocket: config.dovecot.socketPath } : {}),
      ...(config.dovecot?.listen ? { dovecotListen: `${config.dovecot.listen.host}:${dovecotPort ?? config.dovecot.listen.port}` } : {}),
    },
    'listening',
  );
  if (process.geteuid?.() === 0) {
    // Nothing here needs root once the socket exists: a bug or a hostile input would run with every right.
    logger.warn('running as root: the daemon needs no privileges to serve; run it as its own user (the systemd unit does: User=saslauthd-mysql), with read access to its configuration');
  }
  const { workers, noAcceptLock, rimapHost, timeOfDay } = config.compatibility;
  if (workers !== undefined || noAcceptLock) logger.info({ workers, noAcceptLock }, 'saslauthd -n/-l accepted for compatibility; one process serves all requests concurrently');
  if (rimapHost) logger.info('saslauthd -H accepted for compatibility; it names the rimap mechanism\'s host and has no effect here');
  if (timeOfDay) logger.info('saslauthd -T accepted for compatibility; time-of-day login restrictions are not applied here');

  let closing: Promise<void> | undefined;
  return {
    socketPath: config.socketPath,
    metricsPort: metricsServer?.port,
    dovecotPort,
    flushCaches() {
      current.flushCaches();
    },
    async reload(next) {
      if (closing) throw new DaemonError(ErrorCodes.SHUTTING_DOWN, 'shutting down: the new configuration is not used');
      const restartNeeded = settingsNeedingRestart(running, next);
      const nextThrottle = sameJson(running.throttle, next.throttle) ? throttle : makeThrottle(next.throttle);
      // Building the generation builds its backend: a configuration it cannot use throws here, and nothing has changed yet.
      const replacement = new AuthGeneration({ config: next, backend: createBackend(next.backend, logger), logger, pools, throttle: nextThrottle, metrics });
      const previous = current;
      current = replacement;
      running = next;
      throttle = nextThrottle;
      replacement.backend.watch();
      const retired = previous.retire().catch((error: unknown) => logger.warn({ error: describeError(error) }, 'closing the replaced backend failed'));
      retiring.add(retired);
      void retired.finally(() => retiring.delete(retired));
      return { inFlightOnPrevious: previous.inFlight, restartNeeded };
    },
    close() {
      closing ??= (async () => {
        await Promise.all([server.close(config.shutdownGraceMs), dovecotServer?.close(config.shutdownGraceMs), metricsServer?.close()]);
        // An inherited socket stays: systemd keeps it, and queues logins while we restart.
        if (identity) releaseSocket(identity);
        if (dovecotIdentity) releaseSocket(dovecotIdentity);
        await Promise.all([current.backend.close(), ...retiring, pools.close(), throttleStore?.close()]);
      })();
      return closing;
    },
  };
}

/**
 * Parts that are built once, at start-up: a new value for them is reported
 * and waits for a restart, while everything else takes effect at once.
 */
/** The shared throttle store, loaded only when asked for (ioredis is a daemon without it need not carry). */
async function openThrottleStore(config: DaemonConfig, logger: Logger): Promise<ThrottleStore> {
  const settings = config.throttleStore!;
  const { RedisThrottleStore } = await import('./auth/redis-throttle-store.js');
  const log = logger.child({ component: 'throttle-store' });
  for (const warning of settings.warnings) log.warn(warning);
  log.info({ store: RedisThrottleStore.describe(settings.url), deadlineMs: settings.deadlineMs, keyed: settings.digestKey !== undefined }, `throttle counts are shared through ${RedisThrottleStore.describe(settings.url)}`);
  return new RedisThrottleStore(
    {
      url: settings.url,
      deadlineMs: settings.deadlineMs,
      windowMs: config.throttle.windowMs,
      turnLeaseMs: config.timeouts.answerTimeoutMs,
      ownerAddressMs: OWNER_ADDRESS_MS,
      ...(settings.digestKey !== undefined ? { digestKey: Buffer.from(settings.digestKey) } : {}),
    },
    log,
  );
}

function settingsNeedingRestart(running: DaemonConfig, next: DaemonConfig): string[] {
  const parts: Array<[string, (config: DaemonConfig) => unknown]> = [
    ['socket path (-m)', (c) => c.socketPath],
    ['socket mode and group', (c) => c.socket],
    ['connection timeouts', (c) => c.timeouts],
    ['--max-connections', (c) => c.maxConnections],
    ['--dovecot-socket and --dovecot-listen', (c) => c.dovecot],
    ['verification threads and queue', (c) => c.verify],
    ['log level', (c) => c.log],
    ['metrics port and address', (c) => c.metrics],
    ['--throttle-store and its key and deadline', (c) => c.throttleStore],
  ];
  return parts.filter(([, read]) => !sameJson(read(running), read(next))).map(([name]) => name);
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
