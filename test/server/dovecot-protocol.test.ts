/**
 * Dovecot's auth-client protocol on --dovecot-socket, over a real UNIX socket,
 * as Postfix (smtpd_sasl_type = dovecot) speaks it: the handshake, AUTH PLAIN
 * with and without an initial response, LOGIN through CONT, pipelined ids,
 * and what closes a connection.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_HASH, eventually, startTestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';
import { dovecotLineClient, dovecotPlainLogin } from '../helpers/dovecot-client.js';

const USERS = [`alice@example.org:${DEMO_HASH}`];
const b64 = (text: string) => Buffer.from(text).toString('base64');

const client = dovecotLineClient;

async function start() {
  const dir = tempDir();
  const dovecotSocket = path.join(dir, 'auth');
  const daemon = await startTestDaemon(USERS, { realmJoin: true, dovecotSocket, logSuccesses: true });
  return { ...daemon, dovecotSocket };
}

const HANDSHAKE = ['VERSION\t1\t0', 'CPID\t4242'];

describe("Dovecot's auth protocol", () => {
  it('opens with VERSION, the mechanisms (before SPID, as Postfix requires), SPID, CUID, COOKIE and DONE', async () => {
    const { dovecotSocket } = await start();
    const c = client(dovecotSocket);
    await eventually(() => c.lines().includes('DONE'), 3000, 10);
    const lines = c.lines();
    expect(lines[0]).toBe('VERSION\t1\t2');
    expect(lines.slice(1, 3)).toEqual(['MECH\tPLAIN\tplaintext', 'MECH\tLOGIN\tplaintext']);
    expect(lines[3]).toMatch(/^SPID\t\d+$/);
    expect(lines[4]).toMatch(/^CUID\t\d+$/);
    expect(lines[5]).toMatch(/^COOKIE\t[0-9a-f]{32}$/);
    expect(lines[6]).toBe('DONE');
    c.end();
  });

  it('PLAIN with an initial response: OK with the user name, FAIL for a wrong password, the client address logged', async () => {
    const { dovecotSocket, sink } = await start();
    const c = client(dovecotSocket);
    c.send(...HANDSHAKE, `AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=203.0.113.7\tsecured\tresp=${b64('\0alice@example.org\0demo')}`);
    c.send(`AUTH\t2\tPLAIN\tservice=smtp\tnologin\trip=203.0.113.7\tresp=${b64('\0alice@example.org\0wrong')}`);
    await eventually(() => c.replies().length === 2, 3000, 10);
    expect(c.replies()).toContain('OK\t1\tuser=alice@example.org');
    expect(c.replies()).toContain('FAIL\t2\treason=authentication failed');
    expect(sink.authEvents()).toEqual(expect.arrayContaining([expect.objectContaining({ result: 'success', remote: '203.0.113.7', service: 'smtp' }), expect.objectContaining({ result: 'failure', remote: '203.0.113.7' })]));
    c.end();
  });

  it('PLAIN without one, through an empty CONT; LOGIN through its two challenges', async () => {
    const { dovecotSocket } = await start();
    const c = client(dovecotSocket);
    c.send(...HANDSHAKE, 'AUTH\t7\tPLAIN\tservice=smtp', 'AUTH\t8\tLOGIN\tservice=smtp');
    await eventually(() => c.replies().length === 2, 3000, 10);
    expect(c.replies()).toEqual(['CONT\t7\t', `CONT\t8\t${b64('Username:')}`]);
    c.send(`CONT\t7\t${b64('\0alice@example.org\0demo')}`, `CONT\t8\t${b64('alice@example.org')}`);
    await eventually(() => c.replies().length === 4, 3000, 10);
    expect(c.replies()).toContain(`CONT\t8\t${b64('Password:')}`);
    c.send(`CONT\t8\t${b64('demo')}`);
    await eventually(() => c.replies().length === 5, 3000, 10);
    expect(c.replies()).toEqual(expect.arrayContaining(['OK\t7\tuser=alice@example.org', 'OK\t8\tuser=alice@example.org']));
    // LOGIN with an empty initial response (Exim's dovecot driver sends one) still asks for the user name.
    c.send(`AUTH\t9\tLOGIN\tservice=smtp\tresp=`);
    await eventually(() => c.replies().length === 6, 3000, 10);
    expect(c.replies()[5]).toBe(`CONT\t9\t${b64('Username:')}`);
    // The connection stays open for the next login, as Postfix expects.
    expect(c.isClosed()).toBe(false);
    c.end();
  });

  it('answers bad base64 with FAIL code=invalid_base64, and closes only the connection that sends an unknown mechanism or a bad line', async () => {
    const { dovecotSocket } = await start();
    const good = client(dovecotSocket);
    const bad = client(dovecotSocket);
    good.send(...HANDSHAKE, 'AUTH\t1\tPLAIN\tservice=smtp\tresp=!!!');
    bad.send(...HANDSHAKE, 'AUTH\t1\tCRAM-MD5\tservice=smtp');
    await eventually(() => bad.isClosed() && good.replies().length === 1, 3000, 10);
    expect(good.replies()).toEqual(['FAIL\t1\tcode=invalid_base64\treason=authentication failed']);
    good.send(`AUTH\t2\tPLAIN\tservice=smtp\tresp=${b64('\0alice@example.org\0demo')}`);
    await eventually(() => good.replies().length === 2, 3000, 10);
    expect(good.replies()[1]).toBe('OK\t2\tuser=alice@example.org');
    const garbage = client(dovecotSocket);
    garbage.send('what is this');
    await eventually(() => garbage.isClosed(), 3000, 10);
    const long = client(dovecotSocket);
    long.send(...HANDSHAKE, `AUTH\t1\tPLAIN\tservice=smtp\tresp=${'A'.repeat(10_000)}`);
    await eventually(() => long.isClosed(), 3000, 10);
    good.end();
  });

  it('takes an authorization id equal to the user (doveadm sends one), and refuses logging in as someone else', async () => {
    const { dovecotSocket, sink } = await start();
    const c = client(dovecotSocket);
    c.send(...HANDSHAKE, `AUTH\t1\tPLAIN\tservice=smtp\tresp=${b64('alice@example.org\0alice@example.org\0demo')}`, `AUTH\t2\tPLAIN\tservice=smtp\tresp=${b64('bob@example.org\0alice@example.org\0demo')}`);
    await eventually(() => c.replies().length === 2, 3000, 10);
    expect(c.replies()).toEqual(expect.arrayContaining(['OK\t1\tuser=alice@example.org', 'FAIL\t2\treason=authentication failed']));
    // The refused one never reached a lookup.
    expect(sink.authEvents()).toHaveLength(1);
    c.end();
  });

  it("refuses an empty password or an over-long name before authentication, as saslauthd does, and logs the code", async () => {
    const { dovecotSocket, sink } = await start();
    const c = client(dovecotSocket);
    c.send(...HANDSHAKE, `AUTH\t1\tPLAIN\tservice=smtp\tresp=${b64('\0alice@example.org\0')}`, `AUTH\t2\tPLAIN\tservice=smtp\tresp=${b64(`\0${'a'.repeat(300)}\0demo`)}`);
    await eventually(() => c.replies().length === 2, 3000, 10);
    expect(c.replies()).toEqual(['FAIL\t1\treason=authentication failed', 'FAIL\t2\treason=authentication failed']);
    const refusals = sink.records().filter((record) => record.msg === 'request refused before authentication');
    expect(refusals.map((record) => record.code)).toEqual(['ERR_NULL_PASSWORD', 'ERR_FIELD_TOO_LONG']);
    // Neither reached a lookup.
    expect(sink.authEvents()).toEqual([]);
    c.end();
  });

  it("logs whether the client's connection was encrypted, and with --dovecot-plaintext-needs-tls refuses PLAIN without it", async () => {
    const { dovecotSocket, sink } = await start();
    const c = client(dovecotSocket);
    c.send(...HANDSHAKE, `AUTH\t1\tPLAIN\tservice=smtp\trip=192.0.2.1\tsecured\tresp=${b64('\0alice@example.org\0demo')}`, `AUTH\t2\tPLAIN\tservice=smtp\trip=192.0.2.1\tresp=${b64('\0alice@example.org\0demo')}`);
    await eventually(() => c.replies().length === 2, 3000, 10);
    expect(sink.authEvents().map((event) => event.secured)).toEqual(expect.arrayContaining([true, false]));
    expect(sink.authEvents().every((event) => event.listener === 'dovecot')).toBe(true);
    c.end();

    const strict = path.join(tempDir(), 'auth');
    const { sink: strictSink } = await startTestDaemon(USERS, { dovecotSocket: strict, dovecotPlaintextNeedsTls: true });
    const s = client(strict);
    s.send(...HANDSHAKE, `AUTH\t1\tPLAIN\tservice=smtp\tresp=${b64('\0alice@example.org\0demo')}`, `AUTH\t2\tPLAIN\tservice=smtp\tsecured\tresp=${b64('\0alice@example.org\0demo')}`);
    await eventually(() => s.replies().length === 2, 3000, 10);
    expect(s.replies()).toEqual(expect.arrayContaining(['FAIL\t1\treason=Plaintext authentication disallowed on non-secure (SSL/TLS) connections.', 'OK\t2\tuser=alice@example.org']));
    // The refused one was never looked up, and never counted as a guess.
    expect(strictSink.authEvents()).toHaveLength(1);
    s.end();
  });

  it("keys the throttle on rip: an address's failures delay its own answers, not another address's", async () => {
    const dovecotSocket = path.join(tempDir(), 'auth');
    const { sink } = await startTestDaemon(USERS, { dovecotSocket, throttleAfter: '3', throttleMaxDelay: '600' });
    const c = client(dovecotSocket);
    c.send(...HANDSHAKE);
    for (let i = 1; i <= 4; i += 1) {
      c.send(`AUTH\t${i}\tPLAIN\tservice=smtp\trip=203.0.113.9\tresp=${b64(`\0user${i}@example.org\0guess`)}`);
      await eventually(() => c.replies().length === i, 3000, 10);
    }
    c.send(`AUTH\t9\tPLAIN\tservice=smtp\trip=198.51.100.4\tresp=${b64('\0alice@example.org\0demo')}`);
    await eventually(() => c.replies().length === 5, 3000, 10);
    expect(c.replies()[4]).toBe('OK\t9\tuser=alice@example.org');
    const events = sink.authEvents();
    // The fourth failure from 203.0.113.9 was held back by the address's count; the other address was not.
    expect(events.find((event) => event.user === 'user4@example.org')).toMatchObject({ remote: '203.0.113.9' });
    expect(Number(events.find((event) => event.user === 'user4@example.org')?.delayMs)).toBeGreaterThanOrEqual(125);
    expect(events.find((event) => event.user === 'alice@example.org')?.delayMs).toBeUndefined();
    expect(sink.records().some((record) => record.event === 'throttle' && record.by === 'address' && record.remote === '203.0.113.9')).toBe(true);
    c.end();
  });

  it("does not hold the owner back at an address that logged in as them before, while guesses from other addresses are", async () => {
    const dovecotSocket = path.join(tempDir(), 'auth');
    const { sink } = await startTestDaemon(USERS, { dovecotSocket, throttleAfter: '2', throttleMaxDelay: '800' });
    const c = client(dovecotSocket);
    const auth = (id: number, rip: string, password: string) => `AUTH\t${id}\tPLAIN\tservice=smtp\trip=${rip}\tresp=${b64(`\0alice@example.org\0${password}`)}`;
    c.send(...HANDSHAKE, auth(1, '198.51.100.7', 'demo'));
    await eventually(() => c.replies().length === 1, 3000, 10);
    for (let i = 2; i <= 5; i += 1) {
      c.send(auth(i, `203.0.113.${i}`, `guess-${i}`));
      await eventually(() => c.replies().length === i, 5000, 10);
    }
    // The name is throttled by now: the last guesses were held back.
    expect(Number(sink.authEvents().at(-1)?.delayMs)).toBeGreaterThan(0);
    const started = performance.now();
    c.send(auth(6, '198.51.100.7', 'demo'));
    await eventually(() => c.replies().length === 6, 3000, 10);
    expect(c.replies()[5]).toBe('OK\t6\tuser=alice@example.org');
    expect(performance.now() - started).toBeLessThan(300);
    c.end();
  });

  it('serves the same protocol on --dovecot-listen, on loopback when only a port is given', async () => {
    const { daemon } = await startTestDaemon(USERS, { dovecotListen: '0' });
    expect(daemon.dovecotPort).toBeGreaterThan(0);
    const answer = await dovecotPlainLogin({ host: '127.0.0.1', port: daemon.dovecotPort! }, 'alice@example.org', 'demo', '\trip=192.0.2.8');
    expect(answer).toMatch(/\nOK\t1\tuser=alice@example\.org\n/);
  });

  it('closes a connection that never finishes its handshake, and keeps one that did, idle', async () => {
    const dovecotSocket = path.join(tempDir(), 'auth');
    await startTestDaemon(USERS, { dovecotSocket, readTimeout: '300' });
    const silent = client(dovecotSocket);
    const polite = client(dovecotSocket);
    polite.send(...HANDSHAKE);
    await eventually(() => silent.isClosed(), 3000, 20);
    // Opened with the silent one, so past the same deadline: still open, and still answering.
    polite.send(`AUTH\t1\tPLAIN\tservice=smtp\tresp=${b64('\0alice@example.org\0demo')}`);
    await eventually(() => polite.replies().length === 1 || polite.isClosed(), 3000, 10);
    expect(polite.replies()).toEqual(['OK\t1\tuser=alice@example.org']);
    polite.end();
  });
});
