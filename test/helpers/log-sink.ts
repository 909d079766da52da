/**
 * A pino destination that keeps every line, parsed, so tests can assert on
 * log records. (After pino's test/helper.js sink().)
 */
import { createLogger } from '../../src/log/logger.js';
import type { Level, Logger } from 'pino';

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface LogSink {
  readonly logger: Logger;
  /** Every line as written, to search for leaks. */
  readonly raw: string[];
  records(): LogRecord[];
  authEvents(): LogRecord[];
}

export function logSink(level: Level = 'trace'): LogSink {
  const raw: string[] = [];
  const destination = {
    write(line: string) {
      raw.push(line);
    },
  };
  const logger = createLogger({ level, pretty: false, destination });
  return {
    logger,
    raw,
    records: () => raw.map((line) => JSON.parse(line) as LogRecord),
    authEvents: () => raw.map((line) => JSON.parse(line) as LogRecord).filter((record) => record.event === 'auth'),
  };
}
