/**
 * pino, set up once: JSON lines on stdout, or human-readable lines with -d.
 * Redaction is a second line of defence: no code path puts a password into
 * a log object, and should one ever try, these keys come out "[redacted]".
 */
import { pino, type DestinationStream, type Level, type Logger } from 'pino';
import pretty from 'pino-pretty';

export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/**
 * Named paths only: a wildcard ("*.password") makes pino walk every object logged, a
 * measurable share of the event loop's work per login line (docs/BENCHMARKS.md).
 * The first line of defence is elsewhere: a password travels as a Secret, which prints as "[redacted]".
 */
const REDACT_PATHS = ['password', 'passwd', 'secret', 'request.password', 'request.passwd', 'error.password', 'options.password', 'config.password'];

export interface LoggerOptions {
  readonly level: Level;
  /** Human-readable output (saslauthd -d), for running in a terminal. */
  readonly pretty: boolean;
  /** Where lines go; stdout when absent. Tests pass a sink to read them back. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    name: 'saslauthd-mysql',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (options.pretty) {
    const stream = pretty({
      sync: true,
      colorize: Boolean(process.stdout.isTTY) && options.destination === undefined,
      translateTime: 'SYS:standard',
      ignore: 'pid,hostname,name',
      ...(options.destination ? { destination: options.destination as NodeJS.WritableStream } : {}),
    });
    return pino(base, stream);
  }
  return pino(base, options.destination ?? pino.destination({ dest: 1, sync: true }));
}
