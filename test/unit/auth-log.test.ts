/**
 * Which authentications reach the log, and at which level: saslauthd's rule
 * (failures always, successes only when verbose), which fail2ban and
 * administrators coming from saslauthd rely on.
 */
import { describe, expect, it } from 'vitest';
import { logAuthEvent, type AuthEvent } from '../../src/auth/auth-log.js';
import { logSink } from '../helpers/log-sink.js';

const facts = { user: 'alice@example.org', service: 'smtp', realm: 'example.org', mech: 'pam', durationMs: 1.5 } as const;
const success: AuthEvent = { ...facts, result: 'success', scheme: 'MD5-CRYPT' };
const failure: AuthEvent = { ...facts, result: 'failure', code: 'ERR_WRONG_PASSWORD', reason: 'wrong password', scheme: 'MD5-CRYPT' };
const temporary: AuthEvent = { ...facts, result: 'temporary-failure', code: 'ERR_BACKEND_UNAVAILABLE', reason: 'backend unavailable: down' };

const INFO = 30;
const DEBUG = 20;
const ERROR = 50;

describe('logAuthEvent', () => {
  it('at the default level logs failures and temporary failures, not successes', () => {
    const sink = logSink('info');
    for (const event of [success, failure, temporary]) logAuthEvent(sink.logger, event);
    expect(sink.authEvents().map((record) => [record.result, record.level])).toEqual([
      ['failure', INFO],
      ['temporary-failure', ERROR],
    ]);
    expect(sink.authEvents()[0]!.msg).toBe('auth failure: [user=alice@example.org] [service=smtp] [realm=example.org] [mech=pam] [reason=wrong password]');
  });

  it('logs successes at debug, so -d shows them', () => {
    const sink = logSink('debug');
    logAuthEvent(sink.logger, success);
    expect(sink.authEvents()).toEqual([expect.objectContaining({ level: DEBUG, result: 'success', msg: 'auth success: [user=alice@example.org] [service=smtp] [realm=example.org] [mech=pam]' })]);
  });

  it('with -V logs successes at info, in the same shape', () => {
    const sink = logSink('info');
    logAuthEvent(sink.logger, success, 'info');
    logAuthEvent(sink.logger, failure, 'info');
    expect(sink.authEvents().map((record) => [record.result, record.level])).toEqual([
      ['success', INFO],
      ['failure', INFO],
    ]);
    expect(sink.authEvents()[0]).toMatchObject({ event: 'auth', user: 'alice@example.org', service: 'smtp', realm: 'example.org', mech: 'pam', scheme: 'MD5-CRYPT', durationMs: 1.5 });
  });

  it('writes nothing at all when the level is off', () => {
    const sink = logSink('error');
    logAuthEvent(sink.logger, success, 'info');
    logAuthEvent(sink.logger, failure);
    expect(sink.raw).toEqual([]);
  });
});
