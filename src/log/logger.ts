/**
 * pino, set up once: JSON lines on stdout, or human-readable lines with -d.
 * Redaction is a second line of defence: no code path puts a password into
 * a log object, and should one ever try, these keys come out "[redacted]".
 *
 * Under systemd, stdout is the journal, which does not read pino's numeric
 * levels: each line then starts with the sd-daemon priority prefix ("<3>" for
 * an error), which journald takes as the line's priority and strips, so that
 * `journalctl -p err` and `-p warning` work. Files and containers get the
 * plain JSON lines.
 */
import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Level, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

/** Loaded only for -d: a daemon writing JSON lines never needs it, and it weighs megabytes of memory. */
const loadPretty = (): typeof PinoPretty => createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;

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
  /** Prefix each JSON line with its journal priority (stdoutIsJournal). */
  readonly journal?: boolean;
}

/** sd-daemon(3) priorities for pino's levels: fatal crit, error err, warn warning, info info, debug and trace debug. */
const JOURNAL_PRIORITY: Readonly<Record<string, string>> = { '60': '<2>', '50': '<3>', '40': '<4>', '30': '<6>', '20': '<7>', '10': '<7>' };
/** Every JSON line pino writes starts so, with the level's two digits right after. */
const LEVEL_AT = '{"level":'.length;

/** Whether standard output is the journal: systemd then sets JOURNAL_STREAM to its device and inode. */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const { dev, ino } = fstatSync(1, { bigint: true });
    return stream === `${dev}:${ino}`;
  } catch {
    return false;
  }
}

function withJournalPriority(line: string): string {
  return `${JOURNAL_PRIORITY[line.slice(LEVEL_AT, LEVEL_AT + 2)] ?? '<6>'}${line}`;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    name: 'saslauthd-mysql',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (options.pretty) {
    const stream = loadPretty()({
      sync: true,
      colorize: Boolean(process.stdout.isTTY) && options.destination === undefined,
      translateTime: 'SYS:standard',
      // One line per record: the fields an auth line's text already shows are left out, the rest follow as compact JSON.
      singleLine: true,
      ignore: 'pid,hostname,name,event,user,service,realm,mech,result,reason',
      ...(options.destination ? { destination: options.destination as NodeJS.WritableStream } : {}),
    });
    return pino(base, stream);
  }
  return pino(options.journal ? { ...base, hooks: { streamWrite: withJournalPriority } } : base, options.destination ?? pino.destination({ dest: 1, sync: true }));
}
