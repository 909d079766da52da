/**
 * The logger's redaction, the second line of defence behind Secret: the
 * named keys come out "[redacted]" wherever the daemon's code could put them.
 */
import { describe, expect, it } from 'vitest';
import { logSink } from '../helpers/log-sink.js';

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
