/**
 * Dovecot's line codec and the PLAIN/LOGIN steps under property-based
 * fuzzing, as codec-fuzz.test.ts does for the mux codec: any fields, any
 * text, any base64-looking input. Judged by readings of the formats written
 * here (Dovecot's tab-escaping, strict base64, RFC 4616's message), not by
 * the daemon's own code.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { authParameters, decodeBase64, formatLine, parseLine } from '../../src/protocol/dovecot-codec.js';
import { PASSWORD_PROMPT, SaslExchange, USERNAME_PROMPT, type SaslStep } from '../../src/protocol/sasl.js';
import { fuzzParameters } from '../helpers/fuzz.js';

/** Text with every character the escaping cares about, often. */
const fieldArb = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.array(fc.constantFrom('\t', '\n', '\r', '\u0001', 'a', '=', '1', 't', 'n', 'r', 'é'), { maxLength: 30 }).map((chars) => chars.join('')),
);
const commandArb = fc.stringMatching(/^[A-Z]{1,8}$/);

/** The reading of a line by the escaping's definition: split at TAB, \001 + 1/t/n/r stands for \001/TAB/LF/CR, any other \001 makes the line invalid. */
function referenceParse(line: string): { command: string; fields: string[] } | undefined {
  const [command = '', ...raw] = line.split('\t');
  if (!/^[A-Z]+$/.test(command)) return undefined;
  const fields: string[] = [];
  for (const field of raw) {
    if (/\u0001(?![1tnr])/.test(field)) return undefined;
    fields.push(field.replace(/\u0001([1tnr])/g, (_, code: string) => ({ '1': '\u0001', t: '\t', n: '\n', r: '\r' })[code]!));
  }
  return { command, fields };
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Strict base64 by hand: groups of four, padding only at the very end, bits past the last whole byte dropped. */
function referenceBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0) return undefined;
  const body = text.replace(/={1,2}$/, '');
  const padding = text.length - body.length;
  if (!/^[A-Za-z0-9+/]*$/.test(body)) return undefined;
  if (padding > 0 && body.length % 4 !== 4 - padding) return undefined;
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of body) {
    value = (value << 6) | ALPHABET.indexOf(char);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

const base64ish = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes).toString('base64')),
  fc.stringMatching(/^[A-Za-z0-9+/=]{0,12}$/),
  fc.string({ maxLength: 12 }),
);

describe("Dovecot's line codec, fuzzed", () => {
  it('gives back any command and fields it formatted, and a formatted line holds no LF but its end and no TAB but its separators', () => {
    fc.assert(
      fc.property(commandArb, fc.array(fieldArb, { maxLength: 6 }), (command, fields) => {
        const line = formatLine(command, ...fields);
        expect(line.endsWith('\n')).toBe(true);
        const body = line.slice(0, -1);
        expect(body).not.toMatch(/[\n\r]/);
        expect(body.split('\t')).toHaveLength(fields.length + 1);
        expect(parseLine(body)).toEqual({ command, fields });
      }),
      fuzzParameters(500),
    );
  });

  it('reads any line as the escaping defines it, and never throws', () => {
    const lineArb = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.tuple(commandArb, fc.array(fieldArb, { maxLength: 5 })).map(([command, fields]) => [command, ...fields].join('\t')),
    );
    fc.assert(
      fc.property(lineArb, (line) => {
        expect(parseLine(line)).toEqual(referenceParse(line));
      }),
      fuzzParameters(1000),
    );
  });

  it('decodes strict base64 exactly, and nothing else', () => {
    fc.assert(
      fc.property(base64ish, (text) => {
        expect(decodeBase64(text)).toEqual(referenceBase64(text));
      }),
      fuzzParameters(1000),
    );
  });

  it("reads AUTH's parameters: the last of a repeated name wins, a bare word is a flag", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.stringMatching(/^[a-z]{1,6}$/), fc.option(fc.string({ maxLength: 10 }), { nil: undefined })), { maxLength: 8 }), (pairs) => {
        const parameters = authParameters(pairs.map(([name, value]) => (value === undefined ? name : `${name}=${value}`)));
        const expected = new Map<string, string>();
        for (const [name, value] of pairs) expected.set(name, value ?? '');
        expect(new Map(parameters)).toEqual(expected);
      }),
      fuzzParameters(300),
    );
  });
});

const bytesArb = fc.uint8Array({ minLength: 0, maxLength: 40 }).map((bytes) => Buffer.from(bytes));
const b64 = (bytes: Buffer | string): string => Buffer.from(bytes).toString('base64');

/** RFC 4616's message as a client writes it. */
function plainMessage(authzid: Buffer, login: Buffer, password: Buffer): Buffer {
  return Buffer.concat([authzid, Buffer.from([0]), login, Buffer.from([0]), password]);
}

/** Run an exchange: the first step from `initial`, then one step per response. */
function run(exchange: SaslExchange, initial: string | undefined, responses: readonly string[]): SaslStep[] {
  const steps = [exchange.start(initial)];
  for (const response of responses) steps.push(exchange.respond(response));
  return steps;
}

describe('PLAIN and LOGIN steps, fuzzed', () => {
  it('PLAIN gives back exactly the login and password of any message without a NUL in the login, with or without an initial response', () => {
    const noNul = bytesArb.filter((bytes) => !bytes.includes(0));
    fc.assert(
      fc.property(noNul, bytesArb, fc.boolean(), fc.boolean(), (login, password, sameAuthzid, initial) => {
        const message = b64(plainMessage(sameAuthzid ? login : Buffer.alloc(0), login, password));
        const steps = initial ? run(new SaslExchange('PLAIN'), message, []) : run(new SaslExchange('PLAIN'), undefined, [message]);
        if (!initial) expect(steps[0]).toEqual({ kind: 'challenge', data: '' });
        expect(steps.at(-1)).toEqual({ kind: 'credentials', login, password });
      }),
      fuzzParameters(500),
    );
  });

  it('PLAIN refuses logging in as someone else, and a message without two NULs', () => {
    const noNul = bytesArb.filter((bytes) => !bytes.includes(0));
    fc.assert(
      fc.property(noNul.filter((bytes) => bytes.length > 0), noNul, bytesArb, (authzid, login, password) => {
        fc.pre(!authzid.equals(login));
        expect(new SaslExchange('PLAIN').start(b64(plainMessage(authzid, login, password)))).toEqual({ kind: 'refused' });
        expect(new SaslExchange('PLAIN').start(b64(Buffer.concat([login, Buffer.from([0]), password.filter((byte) => byte !== 0)])))).toEqual({ kind: 'refused' });
      }),
      fuzzParameters(300),
    );
  });

  it('LOGIN asks for the user name, then the password, and gives back exactly what was sent', () => {
    fc.assert(
      fc.property(bytesArb, bytesArb, fc.constantFrom<string | undefined>(undefined, ''), (login, password, initial) => {
        const steps = run(new SaslExchange('LOGIN'), initial, [b64(login), b64(password)]);
        expect(steps).toEqual([
          { kind: 'challenge', data: USERNAME_PROMPT },
          { kind: 'challenge', data: PASSWORD_PROMPT },
          { kind: 'credentials', login, password },
        ]);
      }),
      fuzzParameters(300),
    );
  });

  it('on any responses: never throws, ends at most once, and refuses everything after its end', () => {
    fc.assert(
      fc.property(fc.constantFrom('PLAIN' as const, 'LOGIN' as const), fc.option(base64ish, { nil: undefined }), fc.array(base64ish, { maxLength: 5 }), (mechanism, initial, responses) => {
        const steps = run(new SaslExchange(mechanism), initial, responses);
        const end = steps.findIndex((step) => step.kind !== 'challenge');
        if (end < 0) return;
        // Bad base64 is its own refusal, as Dovecot says it.
        const ending = end === 0 ? initial : responses[end - 1];
        if (ending !== undefined && referenceBase64(ending) === undefined) expect(steps[end]).toEqual({ kind: 'refused', code: 'invalid_base64' });
        for (const after of steps.slice(end + 1)) expect(after).toEqual({ kind: 'refused' });
        // Credentials come only from LOGIN's second response or PLAIN's first message.
        if (steps[end]!.kind === 'credentials') expect(end).toBe(mechanism === 'LOGIN' ? (initial ? 1 : 2) : initial === undefined ? 1 : 0);
      }),
      fuzzParameters(1000),
    );
  });
});
