/**
 * The logger's redaction, the second line of defence behind Secret: the
 * named keys come out "[redacted]" wherever the daemon's code could put them.
 */
import { describe, expect, it } from 'vitest';
import { logSink } from '../helpers/log-sink.js';
import { createLogger } from '../../src/log/logger.js';

describe('log redaction', () => {
  it.each([
    [{ password: 'Marker-1' }],
    [{ passwd: 'Marker-1' }],
    [{ secret: 'Marker-1' }],
    [{ request: { password: 'Marker-1', login: 'alice' } }],
    [{ error: { password: 'Marker-1' } }],
    [{ config: { password: 'Marker-1' } }],
  ])('%j is logged with the value replaced', (fields) => {
    const sink = logSink('info');
    sink.logger.info(fields, 'something happened');
    expect(sink.raw.join('')).not.toContain('Marker-1');
    expect(sink.raw.join('')).toContain('[redacted]');
  });

  it('leaves the other fields alone', () => {
    const sink = logSink('info');
    sink.logger.info({ request: { password: 'Marker-1', login: 'alice' } }, 'x');
    expect(sink.records()[0]).toMatchObject({ request: { login: 'alice', password: '[redacted]' } });
  });
});

describe('journal priorities', () => {
  it('prefixes each JSON line with the sd-daemon priority of its level when writing to the journal', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', pretty: false, journal: true, destination: { write: (line: string) => lines.push(line) } });
    logger.error('e');
    logger.warn('w');
    logger.info('i');
    logger.debug('d');
    expect(lines.map((line) => line.slice(0, 13))).toEqual(['<3>{"level":5', '<4>{"level":4', '<6>{"level":3', '<7>{"level":2']);
    expect(JSON.parse(lines[0]!.slice(3))).toMatchObject({ level: 50, msg: 'e' });
  });

  it('writes plain JSON lines elsewhere', () => {
    const lines: string[] = [];
    createLogger({ level: 'info', pretty: false, destination: { write: (line: string) => lines.push(line) } }).error('e');
    expect(lines[0]!.startsWith('{"level":50')).toBe(true);
  });
});
