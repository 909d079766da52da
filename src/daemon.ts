/**
 * Assembles the daemon from its parts and owns their order of start and stop:
 * backend first (a broken configuration fails before a socket exists), then
 * the metrics port, then the listeners; on the way out, the listeners first,
 * then the backend. Everything started goes on one cleanup list, which a
 * failed start runs backwards and a stop runs after the listeners drain.
 * A reload (SIGHUP) swaps the backend and caches under listening sockets.
 */
import type { Logger } from 'pino';
import type { DaemonConfig } from './config/daemon-config.js';
import { settingsNeedingRestart } from './config/daemon-config.js';
import { FailureThrottle, OWNER_ADDRESS_MS } from './auth/throttle.js';
import type { CompromiseWatch } from './auth/compromise-watch.js';
import type { RedisThrottleStore } from './auth/redis-throttle-store.js';
import { AuthGeneration } from './auth-generation.js';
import { muxReply } from './auth/mux-reply.js';
import type { DaemonMetrics } from './metrics/daemon-metrics.js';
import { ConfigError, DaemonError, describeError, ErrorCodes } from './errors.js';
import { createBackend } from './backends/index.js';
import { MuxServer } from './protocol/server.js';
import type { DovecotServer } from './protocol/dovecot-server.js';
import { VerifyPools } from './crypt/verify-pool.js';
import { loadNativeCrypt, type NativeCrypt } from './crypt/native-crypt.js';
import { offloadFor } from './crypt/native-lane.js';
import { refuseMisplacedSocket, takeInheritedListeners } from './protocol/socket-activation.js';
import { listenOn, type ListenSpec, type Listening } from './protocol/listen-on.js';
import { inNetworks } from './common/networks.js';
import { VERSION } from './common/version.js';
import path from 'node:path';

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
  /** The TCP port of Dovecot's auth policy, when --dovecot-policy-listen asked for one (useful with port 0). */
  readonly policyPort: number | undefined;
  /** Forget every cached password. */
  flushCaches(): void;
  /**
   * Switch to a new configuration (SIGHUP): new backend, empty caches, requests
   * in flight finish on the old one. Throws, changing nothing, when the new
   * configuration cannot be used.
   */
  reload(config: DaemonConfig): Promise<ReloadReport>;
  /** Stop accepting, finish in-flight requests within the grace period, remove the sockets. */
  close(): Promise<void>;
}

/** What a stop or a failed start undoes, newest first. */
class CleanupList {
  readonly #steps: Array<() => unknown> = [];

  add(step: () => unknown): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) await step();
  }
}

/** Loaded only when asked for, like each loader below: prom-client and node:http cost a few MB a daemon without metrics need not carry. */
async function loadMetrics() {
  const [{ DaemonMetrics }, { startMetricsServer }] = await Promise.all([import('./metrics/daemon-metrics.js'), import('./metrics/metrics-server.js')]);
  return { DaemonMetrics, startMetricsServer };
}

async function loadPolicy() {
  const [{ PolicyServer }, { PolicyGuard }] = await Promise.all([import('./protocol/policy-server.js'), import('./auth/policy-guard.js')]);
  return { PolicyServer, PolicyGuard };
}

async function loadDovecot() {
  const [{ DovecotServer }, { dovecotReply }] = await Promise.all([import('./protocol/dovecot-server.js'), import('./auth/dovecot-reply.js')]);
  return { DovecotServer, dovecotReply };
}

/** The shared throttle store: ioredis is a dependency a daemon without it need not carry. */
async function openThrottleStore(config: DaemonConfig, logger: Logger): Promise<RedisThrottleStore> {
  const settings = config.throttleStore!;
  const { RedisThrottleStore } = await import('./auth/redis-throttle-store.js');
  const log = logger.child({ component: 'throttle-store' });
  for (const warning of settings.warnings) log.warn(warning);
  log.info({ store: RedisThrottleStore.describe(settings.url), deadlineMs: settings.deadlineMs, keyed: settings.digestKey !== undefined }, `throttle counts are shared through ${RedisThrottleStore.describe(settings.url)}`);
  return new RedisThrottleStore(
    {
      url: settings.url,
      deadlineMs: settings.deadlineMs,
      turnLeaseMs: config.timeouts.answerTimeoutMs,
      ownerAddressMs: OWNER_ADDRESS_MS,
      ...(settings.digestKey !== undefined ? { digestKey: Buffer.from(settings.digestKey) } : {}),
    },
    log,
  );
}

/** The compromised-account signal, its counts shared through the throttle store when there is one. */
async function watchCompromise(settings: NonNullable<DaemonConfig['compromise']>, store: RedisThrottleStore | undefined, metrics: DaemonMetrics | undefined, logger: Logger): Promise<CompromiseWatch> {
  const [{ CompromiseWatch }, shared] = await Promise.all([
    import('./auth/compromise-watch.js'),
    store ? import('./auth/redis-compromise-store.js').then(({ RedisCompromiseStore }) => new RedisCompromiseStore(store)) : undefined,
  ]);
  return new CompromiseWatch(settings, logger.child({ component: 'compromise' }), { ...(shared ? { store: shared } : {}), ...(metrics ? { onSignal: (service: string) => metrics.observeCompromise(service) } : {}) });
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
  const cleanup = new CleanupList();
  // What systemd passed, if it started us (read once, before anything else could).
  const passed = takeInheritedListeners();
  const pools = new VerifyPools(config.verify, chooseNativeCrypt(config.verify, logger));
  cleanup.add(() => pools.close());
  try {
    const throttleStore = config.throttleStore ? await openThrottleStore(config, logger) : undefined;
    if (throttleStore) cleanup.add(() => throttleStore.close());
    const makeThrottle = (settings: DaemonConfig['throttle']) => (settings.afterFailures > 0 ? new FailureThrottle(settings, logger, undefined, throttleStore) : undefined);
    let throttle = makeThrottle(config.throttle);

    const metricsParts = config.metrics ? await loadMetrics() : undefined;
    // The listeners the gauges read are made below, before anyone can scrape.
    let dovecotServer: DovecotServer | undefined;
    let policyListener: { readonly connectionCount: number; readonly heldCount: number } | undefined;
    const metrics: DaemonMetrics | undefined = metricsParts
      ? new metricsParts.DaemonMetrics({
          openConnections: () => ({
            mux: muxServer.connectionCount,
            ...(dovecotServer ? { dovecot: dovecotServer.connectionCount } : {}),
            ...(policyListener ? { policy: policyListener.connectionCount } : {}),
          }),
          heldAnswers: (): number => muxServer.heldCount + (dovecotServer?.heldCount ?? 0) + (policyListener?.heldCount ?? 0),
          verifyQueue: () => ({ fast: pools.fast.queueSize, slow: pools.slow.queueSize }),
          throttleKeys: () => throttle?.keyCounts ?? { counted: 0, active: 0 },
        })
      : undefined;

    const compromise = config.compromise ? await watchCompromise(config.compromise, throttleStore, metrics, logger) : undefined;
    // Loaded only when configured: jose and the keys it keeps.
    const tokens = config.oauth ? new (await import('./oauth/access-tokens.js')).AccessTokens(config.oauth) : undefined;
    for (const warning of config.oauth?.warnings ?? []) logger.warn(warning);
    let current: AuthGeneration = new AuthGeneration({ config, backend: createBackend(config.backend, logger), logger, pools, throttle, compromise, metrics, tokens });
    // The generation serving when the daemon stops: the ones replaced before close their own backends as they retire.
    cleanup.add(() => current.backend.close());
    /** Generations replaced by a reload that still have requests to answer. */
    const retiring = new Set<Promise<void>>();
    cleanup.add(() => Promise.all(retiring));

    // Before the sockets: a port in use stops start-up before any login could be taken.
    const metricsServer = metrics && metricsParts && config.metrics ? await metricsParts.startMetricsServer(metrics.registry, config.metrics.host, config.metrics.port, logger) : undefined;
    if (metricsServer) cleanup.add(() => metricsServer.close());

    // Each listener reads `current` per request: after a reload, new requests go to the new generation.
    const muxServer: MuxServer = new MuxServer({
      handler: async (request, cancellation, hold) => muxReply(await current.authenticate(request, cancellation, hold)),
      timeouts: config.timeouts,
      maxConnections: config.maxConnections,
      maxPerPeer: config.maxConnectionsPerPeer,
      logger: logger.child({ component: 'server' }),
    });
    cleanup.add(() => muxServer.close(0));
    if (passed.mux) refuseMisplacedSocket(passed.mux.fd, config.socketPath, '--run-dir (SASLAUTHD_MYSQL_RUN_DIR)', 'saslauthd-mysql.socket');
    if (passed.dovecot && config.dovecot?.socketPath) refuseMisplacedSocket(passed.dovecot.fd, config.dovecot.socketPath, '--dovecot-socket (SASLAUTHD_MYSQL_DOVECOT_SOCKET)', 'saslauthd-mysql-dovecot.socket');
    const mux = await listenOn(muxServer, passed.mux ? { kind: 'inherited', ...passed.mux } : { kind: 'path', path: config.socketPath, mode: config.socket.mode, ...gidOf(config) }, logger);
    cleanup.add(() => mux.release());

    // Dovecot's auth protocol, when asked for (or when systemd passed its socket): the same generation
    // (backend, caches, throttle), another way in.
    const dovecotSpecs = dovecotListenSpecs(config, passed.dovecot);
    const dovecotListening: Listening[] = [];
    if (dovecotSpecs.length > 0) {
      const { DovecotServer, dovecotReply } = await loadDovecot();
      const dovecot = new DovecotServer({
        handler: async (request, cancellation, hold) => dovecotReply(await current.authenticate(request, cancellation, hold)),
        timeouts: config.dovecotTimeouts,
        maxConnections: config.maxConnections,
        maxPerPeer: config.maxConnectionsPerPeer,
        policy: {
          plaintextNeedsTls: config.dovecot?.plaintextNeedsTls ?? false,
          trustsAddressesFrom: inNetworks(config.dovecot?.trustedPeers ?? []),
          ...(tokens ? { tokens: { ...(config.oauth?.scope === undefined ? {} : { scope: config.oauth.scope }), openidConfiguration: tokens.openidConfiguration } } : {}),
        },
        logger: logger.child({ component: 'dovecot' }),
      });
      dovecotServer = dovecot;
      cleanup.add(() => dovecot.close(0));
      for (const spec of dovecotSpecs) {
        const listening = await listenOn(dovecot, spec, logger);
        cleanup.add(() => listening.release());
        dovecotListening.push(listening);
      }
    }
    // The control socket, for saslauthd-mysql unblock: only while the signal may block accounts.
    const control = compromise?.blocking ? await serveControl(config, compromise, logger) : undefined;
    if (control) cleanup.add(() => control.close());
    const policy = config.dovecotPolicy ? await servePolicy(config, () => current, metrics, logger) : undefined;
    if (policy) {
      cleanup.add(() => policy.close(0));
      policyListener = policy.server;
    }
    current.backend.watch();
    if (metricsServer) logger.info({ metrics: `http://${config.metrics!.host}:${metricsServer.port}/metrics` }, 'serving Prometheus metrics');
    logListening(config, logger, { listening: mux, engine: muxServer.engine }, passed.mux !== undefined, dovecotListening, pools.fastEngine);

    let running = config;
    let closing: Promise<void> | undefined;
    return {
      socketPath: config.socketPath,
      metricsPort: metricsServer?.port,
      dovecotPort: dovecotListening.find((listening) => listening.port !== undefined)?.port,
      policyPort: policy?.port,
      flushCaches() {
        current.flushCaches();
      },
      async reload(next) {
        if (closing) throw new DaemonError(ErrorCodes.SHUTTING_DOWN, 'shutting down: the new configuration is not used');
        const restartNeeded = settingsNeedingRestart(running, next);
        const nextThrottle = sameJson(running.throttle, next.throttle) ? throttle : makeThrottle(next.throttle);
        // Building the generation builds its backend: a configuration it cannot use throws here, and nothing has changed yet.
        const replacement = new AuthGeneration({ config: next, backend: createBackend(next.backend, logger), logger, pools, throttle: nextThrottle, compromise, metrics, tokens });
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
          // The listeners drain first (within the grace period); then the cleanup list lets go of the rest, newest first.
          await Promise.all([muxServer.close(running.shutdownGraceMs), dovecotServer?.close(running.shutdownGraceMs), policy?.close(running.shutdownGraceMs)]);
          await cleanup.run();
        })();
        return closing;
      },
    };
  } catch (error) {
    await cleanup.run();
    throw error;
  }
}

async function serveControl(config: DaemonConfig, compromise: CompromiseWatch, logger: Logger): Promise<{ close(): Promise<void> }> {
  const { ControlServer, CONTROL_SOCKET_NAME } = await import('./protocol/control-server.js');
  const server = new ControlServer({ unblock: (user) => compromise.unblock(user) }, config.timeouts.readTimeoutMs, logger.child({ component: 'control' }));
  // The daemon's own user and root only: whoever can connect can lift a block.
  const listening = await listenOn(server, { kind: 'path', path: path.join(config.runDir, CONTROL_SOCKET_NAME), mode: 0o600 }, logger);
  return {
    async close() {
      await server.close(0);
      listening.release();
    },
  };
}

/**
 * Dovecot's auth policy on its TCP address: the guard reads the generation
 * serving now, so a reload's backend and throttle apply to the next request.
 */
async function servePolicy(
  config: DaemonConfig,
  generation: () => AuthGeneration,
  metrics: DaemonMetrics | undefined,
  logger: Logger,
): Promise<{ readonly port: number | undefined; readonly server: { readonly connectionCount: number; readonly heldCount: number }; close(graceMs: number): Promise<void> }> {
  const settings = config.dovecotPolicy!;
  const { PolicyServer, PolicyGuard } = await loadPolicy();
  const log = logger.child({ component: 'policy' });
  for (const warning of settings.warnings) log.warn(warning);
  const guard = new PolicyGuard({ context: () => generation().policy, reportTimeoutMs: config.timeouts.answerTimeoutMs, repeatWindowMs: config.throttle.windowMs, logger: log, ...(metrics ? { metrics } : {}) });
  const server = new PolicyServer({
    handler: guard,
    secret: { header: 'x-api-key', value: settings.secret },
    timeouts: { readTimeoutMs: config.timeouts.readTimeoutMs, answerTimeoutMs: config.timeouts.answerTimeoutMs },
    maxConnections: config.maxConnections,
    maxPerPeer: config.maxConnectionsPerPeer,
    logger: log,
  });
  const port = await server.listen(settings.listen);
  log.info({ policyListen: `${settings.listen.host}:${port ?? settings.listen.port}` }, "serving Dovecot's auth policy");
  return {
    port,
    server,
    async close(graceMs) {
      await server.close(graceMs);
      // Turns still waiting for a report are given back uncounted.
      guard.close();
    },
  };
}

function gidOf(config: DaemonConfig): { readonly gid?: number } {
  return config.socket.gid === undefined ? {} : { gid: config.socket.gid };
}

/** Where Dovecot's protocol is served: systemd's socket or --dovecot-socket, and --dovecot-listen. */
function dovecotListenSpecs(config: DaemonConfig, inherited: { readonly fd: number; readonly name: string | undefined } | undefined): ListenSpec[] {
  const specs: ListenSpec[] = [];
  if (inherited) specs.push({ kind: 'inherited', ...inherited });
  else if (config.dovecot?.socketPath) specs.push({ kind: 'path', path: config.dovecot.socketPath, mode: config.socket.mode, ...gidOf(config) });
  if (config.dovecot?.listen) specs.push({ kind: 'tcp', ...config.dovecot.listen });
  return specs;
}

function logListening(config: DaemonConfig, logger: Logger, mux: { readonly listening: Listening; readonly engine: string }, inherited: boolean, dovecot: readonly Listening[], crypt: string): void {
  const dovecotSocket = dovecot.find((listening) => listening.port === undefined);
  const dovecotListen = dovecot.find((listening) => listening.port !== undefined);
  logger.info(
    {
      version: VERSION,
      socket: mux.listening.description,
      // Who accepts on it: the native listener (native) or Node's net (node), as the addon is built.
      socketEngine: mux.engine,
      mech: config.mech,
      realmJoin: config.realm.joinRealm,
      // Who computes md5crypt, DES and sha-crypt: libxcrypt (native) or JavaScript (js).
      crypt,
      ...(inherited ? {} : { mode: `0${config.socket.mode.toString(8)}` }),
      ...(dovecotSocket ? { dovecotSocket: dovecotSocket.description } : {}),
      ...(dovecotListen ? { dovecotListen: dovecotListen.description } : {}),
    },
    'listening',
  );
  if (process.geteuid?.() === 0) {
    // Nothing here needs root once the socket exists: a bug or a hostile input would run with every right.
    logger.warn('running as root: the daemon needs no privileges to serve; run it as its own user (the systemd unit does: User=saslauthd-mysql), with read access to its configuration');
  }
  const { workers, noAcceptLock, rimapHost, timeOfDay } = config.compatibility;
  if (workers !== undefined || noAcceptLock) logger.info({ workers, noAcceptLock }, 'saslauthd -n/-l accepted for compatibility; one process serves all requests concurrently');
  if (rimapHost) logger.info("saslauthd -H accepted for compatibility; it names the rimap mechanism's host and has no effect here");
  if (timeOfDay) logger.info('saslauthd -T accepted for compatibility; time-of-day login restrictions are not applied here');
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
