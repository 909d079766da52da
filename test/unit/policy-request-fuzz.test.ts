/**
 * Dovecot's auth policy requests (src/protocol/policy-request.ts) under property-based fuzzing:
 * any bytes, any JSON, any nesting. Reading never throws; what it accepts is a flat object of
 * text and true/false as Dovecot builds it; a report pairs with its allow whatever the order of
 * the attributes and whatever 2.4's fail_type says; and the pairing key of two different logins
 * differs. Judged by a reading of the format written here, not by the daemon's own code.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commandOf, readPolicyBody } from '../../src/protocol/policy-request.js';
import { fuzzParameters } from '../helpers/fuzz.js';

const attributeName = fc.constantFrom('login', 'remote', 'protocol', 'pwhash', 'session_id', 'device_id', 'x');
const attributes = fc.dictionary(attributeName, fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('192.0.2.1', '2001:db8::1', 'imap', '0a1', 'alice@example.org')), { maxKeys: 7 });

/** Shuffle an object's keys: Dovecot sorts them, another client need not. */
function shuffled(object: Record<string, unknown>, order: number[]): Record<string, unknown> {
  const entries = Object.entries(object);
  const ranked = entries.map((entry, i) => [order[i % order.length] ?? 0, entry] as const).sort(([a], [b]) => a - b);
  return Object.fromEntries(ranked.map(([, entry]) => entry));
}

describe('policy requests under fuzzing', () => {
  it('never throws on any bytes, and accepts only flat objects of text and true/false', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)), fc.json({ maxDepth: 12 }).map((text) => Buffer.from(text))), fc.constantFrom('allow' as const, 'report' as const), (body, command) => {
        const read = readPolicyBody(body, command);
        if (!read.ok) return;
        const parsed = JSON.parse(body.toString('utf8')) as unknown;
        expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
        if (command === 'report') expect(typeof read.report?.success).toBe('boolean');
        if (read.question.pwhash !== undefined) expect(read.question.pwhash).toMatch(/^[0-9a-f]{2,128}$/);
      }),
      fuzzParameters(500),
    );
  });

  it("pairs a report with its allow whatever the attributes' order and fail_type, and never two different logins", () => {
    fc.assert(
      fc.property(attributes, attributes, fc.array(fc.nat(20), { minLength: 1, maxLength: 8 }), fc.boolean(), fc.constantFrom('', 'credentials', 'internal', 'account'), (one, other, order, success, failType) => {
        const allow = readPolicyBody(Buffer.from(JSON.stringify({ ...one, fail_type: '', tls: false })), 'allow');
        const report = readPolicyBody(Buffer.from(JSON.stringify(shuffled({ ...one, tls: false, success, policy_reject: false, fail_type: failType }, order))), 'report');
        expect(allow.ok && report.ok).toBe(true);
        if (!allow.ok || !report.ok) return;
        expect(report.question.pairing).toBe(allow.question.pairing);
        expect(report.report).toMatchObject({ success, policyRefused: false });
        const another = readPolicyBody(Buffer.from(JSON.stringify({ ...other, fail_type: '', tls: false })), 'allow');
        if (!another.ok) return;
        if (JSON.stringify(Object.entries(one).sort()) !== JSON.stringify(Object.entries(other).sort())) expect(another.question.pairing).not.toBe(allow.question.pairing);
      }),
      fuzzParameters(500),
    );
  });

  it('reads the command only from one command= parameter', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (url) => {
        const command = commandOf(url);
        if (command !== undefined) expect(new URLSearchParams(url.slice(url.indexOf('?') + 1)).getAll('command')).toEqual([command]);
      }),
      fuzzParameters(500),
    );
    expect(commandOf('/?command=allow')).toBe('allow');
    expect(commandOf('/policy?x=1&command=report')).toBe('report');
    expect(commandOf('/?command=allow&command=report')).toBeUndefined();
  });
});
