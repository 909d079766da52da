/**
 * The Dovecot-protocol connection under property-based fuzzing, in process:
 * sessions of well-formed and hostile lines (pipelined ids, reused and
 * cancelled ids, CONT for ids that wait for none, bad base64, NULs, invalid
 * UTF-8, lines past the limit), cut into any pieces. Judged by a model of the
 * protocol written here: the connection answers exactly what the model
 * says, each request at most once and only its own answer (ids never
 * crossed), and closes exactly where the model does. The codec and the SASL
 * steps it reuses are fuzzed against their own references
 * (dovecot-codec-fuzz.test.ts).
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DovecotConnection, MAX_REQUESTS_PER_CONNECTION, type DovecotAnswer } from '../../src/protocol/dovecot-connection.js';
import { authParameters, formatLine, MAX_LINE_BYTES, parseLine } from '../../src/protocol/dovecot-codec.js';
import { mechanismNamed, SaslExchange } from '../../src/protocol/sasl.js';
import { MAX_FIELD_LENGTH } from '../../src/protocol/limits.js';
import type { LoginRequest } from '../../src/protocol/request.js';
import { fuzzParameters } from '../helpers/fuzz.js';
import { logSink } from '../helpers/log-sink.js';

/** A socket stand-in: what is pushed is read by the connection; what it writes is kept. */
class FakeSocket extends Duplex {
  readonly written: string[] = [];
  readonly remoteAddress = undefined;
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.written.push(chunk.toString('utf8'));
    done();
  }
}

const ROOM = { hold: () => true, release: () => undefined };
const TIMEOUTS = { handshakeTimeoutMs: 60_000, answerTimeoutMs: 60_000, responseTimeoutMs: 60_000 };

/** The handler: OK with the login as the user for the password "right", else FAIL; after a random few ticks. */
function handler(delays: readonly number[]) {
  let call = 0;
  return async (request: LoginRequest): Promise<DovecotAnswer> => {
    const wait = delays[call++ % Math.max(1, delays.length)] ?? 0;
    for (let i = 0; i < wait; i += 1) await new Promise((resolve) => setImmediate(resolve));
    return request.password.reveal().toString() === 'right' ? { kind: 'ok', user: request.login.toString() } : { kind: 'fail' };
  };
}

/**
 * The model: the answers a session must get, given as the lines sent at once
 * (in order) and the answers the handler gives later (in any order), and
 * whether the connection closes.
 */
function model(input: string): { readonly atOnce: string[]; readonly later: string[]; readonly closes: boolean } {
  const atOnce: string[] = [];
  const requests = new Map<string, { exchange: SaslExchange; awaiting: boolean; answer?: string }>();
  let version = false;
  let cpid = false;
  const lines = input.split('\n');
  const tail = lines.pop()!;
  const close = () => ({ atOnce, later: [], closes: true });
  for (const raw of lines) {
    if (Buffer.byteLength(raw) > MAX_LINE_BYTES) return close();
    const parsed = parseLine(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
    if (!parsed) return close();
    const { command, fields } = parsed;
    if (command === 'VERSION') {
      if (fields[0] !== '1') return close();
      version = true;
    } else if (command === 'CPID') {
      if (!/^\d+$/.test(fields[0] ?? '')) return close();
      cpid = true;
    } else if (command === 'AUTH') {
      if (!version || !cpid) return close();
      const [id = '', name = '', ...rest] = fields;
      if (!/^\d+$/.test(id) || requests.has(id)) return close();
      const mechanism = mechanismNamed(name);
      if (!mechanism || requests.size >= MAX_REQUESTS_PER_CONNECTION) return close();
      const exchange = new SaslExchange(mechanism);
      const entry: { exchange: SaslExchange; awaiting: boolean; answer?: string } = { exchange, awaiting: false };
      requests.set(id, entry);
      step(id, entry, exchange.start(authParameters(rest).get('resp')));
    } else if (command === 'CONT') {
      const [id = '', response = ''] = fields;
      const entry = requests.get(id);
      if (!entry?.awaiting) return close();
      entry.awaiting = false;
      step(id, entry, entry.exchange.respond(response));
    } else if (command === 'CANCEL') {
      requests.delete(fields[0] ?? '');
    } else {
      return close();
    }
  }
  if (Buffer.byteLength(tail) > MAX_LINE_BYTES) return close();
  return { atOnce, later: [...requests.values()].flatMap((entry) => (entry.answer === undefined ? [] : [entry.answer])), closes: false };

  function step(id: string, entry: { awaiting: boolean; answer?: string }, next: ReturnType<SaslExchange['start']>): void {
    if (next.kind === 'challenge') {
      entry.awaiting = true;
      atOnce.push(formatLine('CONT', id, next.data));
    } else if (next.kind === 'refused') {
      requests.delete(id);
      atOnce.push(formatLine('FAIL', id, ...(next.code ? [`code=${next.code}`] : []), 'reason=authentication failed'));
    } else if (next.kind === 'credentials') {
      const { login, password } = next;
      if (login.length === 0 || password.length === 0 || login.length > MAX_FIELD_LENGTH || password.length > MAX_FIELD_LENGTH) {
        requests.delete(id);
        atOnce.push(formatLine('FAIL', id, 'reason=authentication failed'));
        return;
      }
      entry.answer = password.toString() === 'right' ? formatLine('OK', id, `user=${login.toString()}`) : formatLine('FAIL', id, 'reason=authentication failed');
    } else {
      throw new Error('a token from PLAIN or LOGIN');
    }
  }
}

const b64 = (text: string) => Buffer.from(text).toString('base64');
const userArb = fc.constantFrom('alice', 'bob', 'carol', '');
const passwordArb = fc.constantFrom('right', 'wrong', '');

/** One request's lines, in its own order: PLAIN with or without an initial response, LOGIN's two steps, some cancelled halfway or at once, some refused at once. */
function exchangeArb(id: string): fc.Arbitrary<string[]> {
  const credentials = fc.tuple(userArb, passwordArb, fc.boolean());
  const plain = credentials.map(([user, password, authzid]) => `AUTH\t${id}\tPLAIN\tservice=smtp\trip=192.0.2.1\tresp=${b64(`${authzid ? user : ''}\0${user}\0${password}`)}`);
  const refused = fc.constantFrom('!!!', '=AAA', 'A\u0001B', b64('no-nul')).map((bad) => `AUTH\t${id}\tPLAIN\tresp=${bad}`);
  return fc.oneof(
    plain.map((line) => [line]),
    credentials.map(([user, password]) => [`AUTH\t${id}\tPLAIN\tservice=smtp`, `CONT\t${id}\t${b64(`\0${user}\0${password}`)}`]),
    credentials.map(([user, password]) => [`AUTH\t${id}\tLOGIN\tservice=imap`, `CONT\t${id}\t${b64(user)}`, `CONT\t${id}\t${b64(password)}`]),
    plain.map((line) => [line, `CANCEL\t${id}`]),
    fc.constant<string[]>([`AUTH\t${id}\tLOGIN\tservice=imap`, `CANCEL\t${id}`]),
    refused.map((line) => [line]),
    // The id taken again once its request has ended (cancelled, or refused at once): the first request's answer, if any comes, belongs to nobody.
    fc.tuple(plain, plain).map(([first, second]) => [first, `CANCEL\t${id}`, second]),
    fc.tuple(refused, plain).map(([first, second]) => [first, second]),
  );
}

/** A hostile line: garbage, a wrong version, a CONT for nothing, an unknown mechanism, an id taken, a line past the limit. */
const hostileArb: fc.Arbitrary<string> = fc.oneof(
  fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  fc.constantFrom('VERSION\t2\t0', 'CPID\tx', 'AUTH\t\tPLAIN', 'NOPE', 'CONT\t7\tAAAA', 'AUTH\t5\tCRAM-MD5', 'AUTH\t1\tLOGIN', 'AUTH\t6\tPLAIN\tservice=smtp\u0000x'),
  fc.integer({ min: MAX_LINE_BYTES - 30, max: MAX_LINE_BYTES + 10 }).map((length) => `AUTH\t6\tPLAIN\tresp=${'A'.repeat(length)}`.slice(0, length)),
);

/**
 * A session: a few requests' lines interleaved (pipelined, each id once
 * unless its request ended), in most sessions nothing else, in some a hostile
 * line somewhere; the handshake almost always first; sometimes bytes that are
 * not UTF-8 or a line left unfinished, or past the limit, at the end.
 */
const sessionArb = fc
  .tuple(
    fc.shuffledSubarray(['1', '2', '3', '4', '5', '6', '7', '8'], { maxLength: 6 }).chain((ids) => fc.tuple(...ids.map((id) => exchangeArb(id)))),
    fc.array(fc.nat(5), { maxLength: 30 }),
    fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(fc.tuple(fc.nat(40), hostileArb), { minLength: 1, maxLength: 2 }) }),
    fc.oneof({ weight: 19, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('AUTH\t9\tPLA', '\u00ff\u00fe', 'A'.repeat(MAX_LINE_BYTES + 1)) }),
  )
  .map(([exchanges, picks, hostile, handshake, tail]) => {
    // Interleave the requests, each in its own order.
    const queues = exchanges.map((lines) => [...lines]);
    const lines: string[] = [];
    for (let pick = 0; queues.some((queue) => queue.length > 0); pick += 1) {
      const open = queues.filter((queue) => queue.length > 0);
      lines.push(open[(picks[pick % Math.max(1, picks.length)] ?? 0) % open.length]!.shift()!);
    }
    for (const [at, line] of hostile) lines.splice(at % (lines.length + 1), 0, line);
    const all = handshake ? ['VERSION\t1\t0', 'CPID\t42', ...lines] : lines;
    return Buffer.from(all.map((line) => `${line}\n`).join('') + tail, 'latin1');
  });

function cut(bytes: Buffer, points: readonly number[]): Buffer[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const point of sorted) {
    pieces.push(bytes.subarray(from, point));
    from = point;
  }
  pieces.push(bytes.subarray(from));
  return pieces.filter((piece) => piece.length > 0);
}

const HANDSHAKE_LINES = 7;

describe('DovecotConnection, fuzzed against a model of the protocol', () => {
  it('answers exactly what the model says, each request once with its own answer, and closes where the model does', async () => {
    let sessions = 0;
    let closing = 0;
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(sessionArb, fc.array(fc.nat(10_000), { maxLength: 8 }), fc.array(fc.nat(3), { maxLength: 6 }), async (session, points, delays) => {
        const socket = new FakeSocket();
        let closed = false;
        socket.on('close', () => (closed = true));
        new DovecotConnection(socket as unknown as Socket, handler(delays), TIMEOUTS, logSink('fatal').logger, { plaintextNeedsTls: false, trustsAddressesFrom: () => false }, ROOM);
        // Every piece at once: the handler answers only after every line has been read, as the model assumes.
        for (const piece of cut(session, points)) socket.push(piece);
        for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
        const expected = model(session.toString('utf8'));
        sessions += 1;
        if (expected.closes) closing += 1;
        answered += expected.atOnce.length + expected.later.length;
        const answers = socket.written.join('').split(/(?<=\n)/).slice(HANDSHAKE_LINES);
        expect(closed).toBe(expected.closes);
        // The lines answered at once come first and in order; the handler's answers follow, in any order.
        expect(answers.slice(0, expected.atOnce.length)).toEqual(expected.atOnce);
        expect(answers.slice(expected.atOnce.length).sort()).toEqual(expected.later.sort());
        socket.destroy();
      }),
      fuzzParameters(1000),
    );
    // The sessions mostly run to their end, with answers to judge: a generator whose sessions all close early would test only the closing.
    expect(closing / sessions).toBeLessThan(0.4);
    expect(answered / sessions).toBeGreaterThan(2);
    console.log(`[dovecot connection fuzz] ${sessions} sessions, ${closing} closed, ${answered} answers judged`);
  }, 120_000);
});
