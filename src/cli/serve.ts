/**
 * The daemon command: resolve configuration, start, and stay in the
 * foreground until SIGTERM or SIGINT, like saslauthd -d (systemd and
 * containers want a foreground process).
 */
import { resolveDaemonConfig, MECHANISMS, type DaemonFlags } from '../config/daemon-config.js';
import { createLogger, stdoutIsJournal } from '../log/logger.js';
import { startDaemon } from '../daemon.js';
import { ConfigError, DaemonError, describeError, ErrorCodes } from '../errors.js';
import { VERSION } from '../common/version.js';
import { readEnvironmentFile, reloadedEnvironment } from '../config/environment-file.js';
import { tellServiceManager, type ServiceState } from '../protocol/service-manager.js';

/** saslauthd exits 2 when another instance is running; scripts may rely on it. */
export const EXIT_ALREADY_RUNNING = 2;
export const EXIT_FAILURE = 1;

/** After a clean shutdown, how long to wait for the process to end on its own. */
const EXIT_BACKSTOP_MS = 3000;

/**
 * Runs one reload at a time; signals arriving meanwhile are folded into one
 * more run afterwards, so the last file contents always win.
 */
function serializeReloads(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const next = async (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await run();
      } while (again);
    })();
    try {
      await running;
    } finally {
      running = undefined;
    }
  };
  return next;
}

/** saslauthd -v prints its version and mechanisms to standard error and exits 0; --version prints them to standard output, so that $(saslauthd-mysql --version) holds them. */
export function printVersion(to: NodeJS.WritableStream = process.stderr): void {
  to.write(`saslauthd-mysql ${VERSION}\nauthentication mechanisms: ${MECHANISMS.join(' ')}\n`);
}

export async function serve(flags: DaemonFlags): Promise<void> {
  let config;
  try {
    config = resolveDaemonConfig(flags);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`saslauthd-mysql: configuration error: ${error.message}\n`);
      process.exitCode = EXIT_FAILURE;
      return;
    }
    throw error;
  }

  const logger = createLogger({ ...config.log, journal: stdoutIsJournal() });
  // A bug must not leave a half-working daemon behind: log without request data and exit.
  process.on('uncaughtException', (error) => {
    logger.fatal({ code: ErrorCodes.INTERNAL, error: describeError(error) }, 'uncaught exception; exiting');
    process.exit(70);
  });

  // Without a handler Node dies of SIGHUP, so one is in place before the socket exists: a reload
  // asked for during start-up (systemctl reload right after start) is carried out once it is up.
  let reloadRequested = false;
  let onSighup = () => {
    reloadRequested = true;
  };
  process.on('SIGHUP', () => onSighup());
  // The same for SIGTERM and SIGINT: one that arrives while the daemon starts (systemctl stop right
  // after start, or a supervisor that saw the "listening" line) would otherwise kill it outright,
  // with no clean stop. It is carried out the moment the daemon is up.
  let stopRequested: NodeJS.Signals | undefined;
  let onStop = (signal: NodeJS.Signals) => {
    stopRequested ??= signal;
  };
  const stopSignal = (signal: NodeJS.Signals) => onStop(signal);
  process.once('SIGTERM', stopSignal);
  process.once('SIGINT', stopSignal);

  let daemon;
  try {
    daemon = await startDaemon(config, logger);
  } catch (error) {
    const code = error instanceof DaemonError ? error.code : ErrorCodes.INTERNAL;
    logger.fatal({ code, error: describeError(error) }, 'cannot start');
    process.stderr.write(`saslauthd-mysql: cannot start: ${describeError(error).message}\n`);
    process.exitCode = code === ErrorCodes.SOCKET_IN_USE ? EXIT_ALREADY_RUNNING : EXIT_FAILURE;
    process.removeAllListeners('SIGHUP');
    process.removeListener('SIGTERM', stopSignal);
    process.removeListener('SIGINT', stopSignal);
    return;
  }

  // systemd's Type=notify: told once every socket listens, around each reload, and at shutdown.
  // When it cannot be told, the unit's start waits for its timeout and then fails: the log says why.
  const tell = (state: ServiceState, status?: string) => {
    const told = tellServiceManager(state, status);
    if (told.kind === 'failed') logger.error({ code: ErrorCodes.SERVICE_MANAGER, state, reason: told.reason }, `cannot tell systemd the service is ${state}: ${told.reason}`);
  };
  tell('ready', `serving, version ${VERSION}`);

  // The environment and the environment file as they were at start, for reloads to compare with.
  const startEnv = { ...process.env };
  let fileAtStart: Record<string, string> = {};
  if (config.environmentFile) {
    try {
      fileAtStart = readEnvironmentFile(config.environmentFile);
    } catch (error) {
      logger.warn({ code: ErrorCodes.CONFIG, error: describeError(error) }, `a reload will refuse until it can read the environment file: ${describeError(error).message}`);
    }
  }

  // SIGHUP: read the configuration again (saslauthd ignores it; without a handler Node would die of it).
  const reload = serializeReloads(async () => {
    tell('reloading');
    try {
      await reloadOnce();
    } finally {
      tell('ready', `serving, version ${VERSION}`);
    }
  });
  const reloadOnce = async () => {
    let next;
    let takenOut: readonly string[] = [];
    try {
      let env = process.env;
      // What systemd read at start from the unit's EnvironmentFile=, read again: edits there apply now.
      if (config.environmentFile) ({ env, removed: takenOut } = reloadedEnvironment(startEnv, fileAtStart, readEnvironmentFile(config.environmentFile)));
      next = resolveDaemonConfig(flags, env);
    } catch (error) {
      refuseReload(error);
      return;
    }
    try {
      const report = await daemon.reload(next);
      const restartNeeded = [...report.restartNeeded, ...takenOut.map((name) => `${name} (taken out of ${config.environmentFile})`)];
      logger.info({ event: 'reload', ...report, restartNeeded }, 'SIGHUP: configuration reloaded, backend replaced, caches flushed');
      if (restartNeeded.length > 0) {
        logger.warn({ event: 'reload', restartNeeded }, `SIGHUP: changed settings that only a restart applies: ${restartNeeded.join(', ')}`);
      }
    } catch (error) {
      refuseReload(error);
    }
  };
  // A refused reload still empties the caches: SIGHUP's old meaning is kept whatever the files say.
  const refuseReload = (error: unknown) => {
    daemon.flushCaches();
    const code = error instanceof DaemonError ? error.code : ErrorCodes.INTERNAL;
    logger.error({ event: 'reload', code, error: describeError(error) }, `SIGHUP: new configuration refused, keeping the running one (caches flushed): ${describeError(error).message}`);
  };
  onSighup = () => void reload();
  if (reloadRequested) onSighup();

  const shutdown = (signal: NodeJS.Signals) => {
    logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down');
    tell('stopping');
    daemon.close().then(
      () => {
        logger.info('stopped');
        // Let Node exit by itself once every worker thread has finished: exiting while one
        // is still tearing down can abort the process. The timer only catches a stray handle.
        process.exitCode = 0;
        process.removeAllListeners('SIGHUP');
        setTimeout(() => process.exit(0), EXIT_BACKSTOP_MS).unref();
      },
      (error: unknown) => {
        logger.error({ error: describeError(error) }, 'error while shutting down');
        process.exit(EXIT_FAILURE);
      },
    );
  };
  onStop = shutdown;
  if (stopRequested) shutdown(stopRequested);
}
