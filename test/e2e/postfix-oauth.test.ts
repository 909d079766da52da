/**
 * Mail submission with tokens: a real Postfix smtpd (smtpd_sasl_type =
 * dovecot on the daemon's --dovecot-socket), curl as the mail client with
 * --oauth2-bearer, tokens from a real identity provider on loopback
 * (oidc-provider), mailboxes in a real MariaDB. curl sends OAUTHBEARER
 * whenever it is offered, so XOAUTH2 is tried on a second smtpd that offers
 * only XOAUTH2 (smtpd_sasl_mechanism_filter). 235 for a good token, 535 for
 * every refusal, 454 while the provider cannot be asked (down or hung); opaque
 * tokens by introspection, revoked ones refused. Needs root,
 * postfix, curl and the SASL plugins; fails (never skips) without them.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { eventually } from '../helpers/daemon.js';
import { vector } from '../helpers/vectors.js';
import { freePort, seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { postfixSuiteProblems, startPostfix, type PostfixInstance } from '../helpers/postfix.js';
import { signingKey, ThrowawayIdentityProvider, tokenUser } from '../helpers/identity-provider.js';
import { xoauth2Message } from '../helpers/dovecot-client.js';
import { suiteTempDir } from '../helpers/temp.js';

const ALICE = tokenUser('alice');
const BOB = tokenUser('bob');
const GONE = tokenUser('gone');
const CAROL = tokenUser('carol');
/** The daemon's own client at the provider, for opaque tokens. */
const SERVICE = tokenUser('mail-service');

let server: ThrowawayServer;
let provider: ThrowawayIdentityProvider;
let daemon: DaemonProcess;
let postfix: PostfixInstance;
let bothPort: number;
let xoauth2Port: number;
let cleanup: () => void;

beforeAll(async () => {
  const problems = postfixSuiteProblems();
  if (problems.length > 0) throw new Error(`the Postfix token suite cannot run: ${problems.join('; ')}`);
  server = await ThrowawayServer.create();
  const secret = vector('libxcrypt', '$1$ md5crypt', 'secret');
  await seedMailboxServer(
    server,
    [
      { username: 'alice@example.org', password: secret },
      { username: 'bob@example.org', password: secret },
      { username: 'gone@example.org', password: secret, active: 0 },
    ],
    { user: 'database', password: 'password' },
  );
  provider = await ThrowawayIdentityProvider.start([ALICE, BOB, GONE, CAROL, SERVICE], { key: await signingKey('postfix-suite') });
  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  chmodSync(dir, 0o755);
  const conf = path.join(dir, 'mysql.conf');
  writeFileSync(conf, `hosts = 127.0.0.1:${server.port}\ndatabase = postfix\nuser = database\npassword = password\ntable = mailbox\nwhere = active = 1\nconnect_timeout = 1000\n`, { mode: 0o600 });
  const secretFile = path.join(dir, 'oauth-client.secret');
  writeFileSync(secretFile, `${SERVICE.clientSecret}\n`, { mode: 0o600 });
  const runDir = path.join(dir, 'run');
  const dovecotSocket = path.join(runDir, 'auth');
  daemon = await spawnDaemon(
    ['-a', 'mysql', '-O', conf, '-r', '-V', '-m', runDir, '--dovecot-socket', dovecotSocket, '--socket-group', 'postfix', '--socket-mode', '0660', '--shutdown-grace', '500'].concat(
      ['--oauth-issuer', provider.issuer, '--oauth-audience', 'urn:mail', '--oauth-clock-skew', '0', '--oauth-timeout', '1000', '--oauth-key-refresh', '1'],
      ['--oauth-client-id', SERVICE.clientId, '--oauth-client-secret-file', secretFile, '--oauth-introspection-cache', '0'],
    ),
    { forSuite: true },
  );
  bothPort = await freePort();
  xoauth2Port = await freePort();
  const dovecot = { smtpd_sasl_type: 'dovecot', smtpd_sasl_path: dovecotSocket };
  postfix = await startPostfix({
    dir: path.join(dir, 'postfix'),
    saslauthdPath: path.join(runDir, 'mux'),
    listeners: [
      { port: bothPort, overrides: dovecot },
      { port: xoauth2Port, overrides: { ...dovecot, smtpd_sasl_mechanism_filter: 'xoauth2' } },
    ],
  });
}, 120_000);

afterAll(async () => {
  await postfix?.stop();
  await daemon?.stop();
  await provider?.stop();
  await server?.destroy();
  cleanup?.();
}, 60_000);

interface CurlResult {
  /** The server's reply to AUTH (235, 535, 454), undefined when none came. */
  readonly code: number | undefined;
  readonly mechanism: string | undefined;
  readonly transcript: string;
}

/** curl as a mail client: STARTTLS, AUTH with the token, then NOOP; what Postfix answered to AUTH. */
async function curlAuth(port: number, login: string, token: string): Promise<CurlResult> {
  const finished = await run('/usr/bin/curl', ['-v', '-s', '--ssl-reqd', '-k', '--max-time', '20', '--url', `smtp://127.0.0.1:${port}`, '--user', `${login}:`, '--oauth2-bearer', token, '-X', 'NOOP'], { timeoutMs: 60_000 });
  const transcript = finished.stdout + finished.stderr;
  const code = /^< (235|454|535)[ -]/m.exec(transcript);
  // A 421 or a dropped connection after AUTH is how Postfix shows a lost auth server before it says 454.
  const mechanism = /^> AUTH (\S+)/m.exec(transcript)?.[1];
  return { code: code ? Number(code[1]) : undefined, mechanism, transcript };
}

/**
 * XOAUTH2 as Thunderbird speaks it, which curl does not finish: STARTTLS, AUTH XOAUTH2 with
 * the initial response, and an empty line to the error challenge. Every reply line, in order.
 */
async function xoauth2Session(port: number, login: string, token: string): Promise<string[]> {
  const lines: string[] = [];
  let buffered = '';
  let waiting: (() => void) | undefined;
  const take = (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    let at: number;
    while ((at = buffered.indexOf('\r\n')) >= 0) {
      lines.push(buffered.slice(0, at));
      buffered = buffered.slice(at + 2);
    }
    waiting?.();
  };
  /** The next final reply line (one whose fourth character is a space). */
  const reply = async (): Promise<string> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const final = lines.findIndex((line) => line[3] === ' ' || line.length === 3);
      if (final >= 0) return lines.splice(0, final + 1).at(-1)!;
      if (Date.now() > deadline) throw new Error(`no reply; so far: ${lines.join(' | ')}`);
      await new Promise<void>((resolve) => {
        waiting = resolve;
        setTimeout(resolve, 100);
      });
    }
  };
  const plain = net.connect(port, '127.0.0.1');
  plain.on('data', take);
  const seen: string[] = [await reply()];
  plain.write('EHLO client.test\r\n');
  seen.push(await reply());
  plain.write('STARTTLS\r\n');
  seen.push(await reply());
  plain.removeListener('data', take);
  const secure = tls.connect({ socket: plain, rejectUnauthorized: false });
  secure.on('data', take);
  await new Promise((resolve) => secure.once('secureConnect', resolve));
  secure.write('EHLO client.test\r\n');
  seen.push(await reply());
  secure.write(`AUTH XOAUTH2 ${xoauth2Message(login, token)}\r\n`);
  let answer = await reply();
  seen.push(answer);
  if (answer.startsWith('334 ')) {
    secure.write('\r\n');
    answer = await reply();
    seen.push(answer);
  }
  secure.end('QUIT\r\n');
  return seen;
}

function expectCode(result: CurlResult, code: number, mechanism: string): void {
  const why = `${result.transcript}\n--- postfix log ---\n${postfix.maillog().slice(-3000)}`;
  expect(result.mechanism, why).toBe(mechanism);
  expect(result.code, why).toBe(code);
}

describe('Postfix mail submission with tokens from a real identity provider', () => {
  it('235 for a good token, by OAUTHBEARER where it is offered and by XOAUTH2 where only it is', async () => {
    const token = await provider.token(ALICE);
    expectCode(await curlAuth(bothPort, 'alice@example.org', token), 235, 'OAUTHBEARER');
    expectCode(await curlAuth(xoauth2Port, 'alice@example.org', token), 235, 'XOAUTH2');
    const successes = daemon.records().filter((record) => record.event === 'auth' && record.result === 'success');
    expect(successes.slice(-2)).toEqual([expect.objectContaining({ user: 'alice@example.org', scheme: 'OAUTHBEARER', service: 'smtp', remote: '127.0.0.1' }), expect.objectContaining({ user: 'alice@example.org', scheme: 'XOAUTH2' })]);
    expect(daemon.output()).not.toContain(token.split('.')[2]);
  }, 60_000);

  it('accepts a submission authenticated by a token: MAIL and RCPT, and Postfix logs the token login as the SASL user', async () => {
    const message = path.join(postfix.configDir, '..', 'message.eml');
    writeFileSync(message, 'From: alice@example.org\r\nTo: someone@example.net\r\nSubject: by token\r\n\r\nSent with an access token.\r\n');
    const token = await provider.token(ALICE);
    const sent = await run('/usr/bin/curl', ['-v', '-s', '--ssl-reqd', '-k', '--max-time', '20', '--url', `smtp://127.0.0.1:${bothPort}`, '--user', 'alice@example.org:', '--oauth2-bearer', token, '--mail-from', 'alice@example.org', '--mail-rcpt', 'someone@example.net', '--upload-file', message], { timeoutMs: 60_000 });
    const transcript = sent.stdout + sent.stderr;
    // The first final reply after each command (AUTH's 334 challenge is not one).
    const after = (command: string) => /^< ((?!334)\d{3})/m.exec(transcript.split(`> ${command}`)[1] ?? '')?.[1];
    expect([after('AUTH OAUTHBEARER'), after('MAIL FROM'), after('RCPT TO')], transcript).toEqual(['235', '250', '250']);
    await eventually(() => /sasl_method=OAUTHBEARER, sasl_username=alice@example\.org\b/.test(postfix.maillog()), 10_000, 100);
  }, 60_000);

  it("535 for an expired token, another service's, another issuer's, an altered one, another user's, one whose mailbox is inactive or missing", async () => {
    const expired = await provider.token(ALICE, 'urn:mail:short');
    // Another issuer that signs with the same key: only iss tells its tokens apart.
    const otherIssuer = await ThrowawayIdentityProvider.start([ALICE], { key: provider.key });
    const fromOtherIssuer = await otherIssuer.token(ALICE);
    await otherIssuer.stop();
    const [header, payload, signature] = (await provider.token(ALICE)).split('.');
    const altered = `${header}.${payload}.${signature!.slice(0, -4)}${signature!.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const cases: Array<[string, string, string]> = [
      ['expired', 'alice@example.org', expired],
      ['another service', 'alice@example.org', await provider.token(ALICE, 'urn:other')],
      ['another issuer', 'alice@example.org', fromOtherIssuer],
      ['altered', 'alice@example.org', altered],
      ["another user's", 'bob@example.org', await provider.token(ALICE)],
      ['inactive mailbox', 'gone@example.org', await provider.token(GONE)],
      ['no mailbox', 'carol@example.org', await provider.token(CAROL)],
    ];
    for (const [what, login, token] of cases) {
      const seen = await curlAuth(bothPort, login, token);
      expect({ what, code: seen.code }, seen.transcript).toEqual({ what, code: 535 });
    }
    // XOAUTH2's error reaches the client as a 334 challenge; curl gives up there, without the empty
    // answer that makes Postfix say 535, which a client that finishes the exchange gets:
    const finished = await xoauth2Session(xoauth2Port, 'alice@example.org', expired);
    expect(finished.slice(-2).map((line) => line.slice(0, 3)), finished.join('\n')).toEqual(['334', '535']);
    expect(JSON.parse(Buffer.from(finished.at(-2)!.slice(4), 'base64').toString())).toMatchObject({ status: '401', schemes: 'bearer' });
    const xoauth2 = await curlAuth(xoauth2Port, 'alice@example.org', expired);
    expect(xoauth2.mechanism).toBe('XOAUTH2');
    expect(xoauth2.code, xoauth2.transcript).not.toBe(235);
    const challenge = /^< 334 (\S+)/m.exec(xoauth2.transcript.split('> AUTH XOAUTH2')[1] ?? '')?.[1];
    expect(JSON.parse(Buffer.from(challenge ?? '', 'base64').toString() || '{}')).toMatchObject({ status: '401', schemes: 'bearer' });
  }, 120_000);

  it('454 while the identity provider cannot be asked for a key it has not given yet, and 235 once it can', async () => {
    // A rotated key: the daemon has not seen it, and the provider is down when the token arrives.
    await provider.restart(await signingKey('rotated'));
    const token = await provider.token(BOB);
    await provider.stop();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const seen = await curlAuth(bothPort, 'bob@example.org', token);
      expect(seen.code, seen.transcript).toBe(454);
    } finally {
      await provider.restart();
    }
    await eventually(async () => (await curlAuth(bothPort, 'bob@example.org', token)).code === 235, 20_000, 500);
  }, 90_000);

  it('opaque tokens by introspection: 235 while active, 535 once revoked, 454 while the provider hangs', async () => {
    const token = await provider.token(ALICE, 'urn:mail:opaque');
    expectCode(await curlAuth(bothPort, 'alice@example.org', token), 235, 'OAUTHBEARER');
    provider.hang();
    try {
      const seen = await curlAuth(bothPort, 'alice@example.org', token);
      expect(seen.code, seen.transcript).toBe(454);
    } finally {
      await provider.restart();
    }
    await provider.revoke(ALICE, token);
    expectCode(await curlAuth(bothPort, 'alice@example.org', token), 535, 'OAUTHBEARER');
  }, 90_000);
});
