/**
 * OAUTHBEARER and XOAUTH2 against the real thing: Dovecot 2.3's own oauth2
 * passdb, introspecting at the same identity provider (oidc-provider on
 * loopback) as saslauthd-mysql does, asked the same tokens over the same
 * protocol (each one's auth-client socket). Where both decide the token, the
 * answers must be the same, error challenge included; where the daemon is
 * stricter by design (the audience, the mailbox table), the test says so.
 * Needs root and dovecot-core; fails (never skips) without them.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { dovecotSuiteProblems, startDovecotAuth, type DovecotAuth } from '../helpers/dovecot.js';
import { dovecotTokenLogin, oauthbearerMessage, xoauth2Message } from '../helpers/dovecot-client.js';
import { ThrowawayIdentityProvider, tokenUser } from '../helpers/identity-provider.js';
import { suiteTempDir } from '../helpers/temp.js';

const ALICE = tokenUser('alice');
const BOB = tokenUser('bob');
const CAROL = tokenUser('carol');
const SERVICE = tokenUser('mail-service');

let provider: ThrowawayIdentityProvider;
let dovecot: DovecotAuth;
let ours: string;
let daemon: DaemonProcess;
let cleanup: () => void;

beforeAll(async () => {
  const problems = dovecotSuiteProblems();
  if (problems.length > 0) throw new Error(`the Dovecot token reference suite cannot run: ${problems.join('; ')}`);
  provider = await ThrowawayIdentityProvider.start([ALICE, BOB, CAROL, SERVICE]);
  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  // Dovecot's auth process reads the passwd-file as its own user.
  chmodSync(dir, 0o755);
  const passwd = path.join(dir, 'passwd');
  writeFileSync(passwd, `alice@example.org:${DEMO_HASH}\nbob@example.org:${DEMO_HASH}\n`, { mode: 0o644 });
  const introspection = new URL(`${provider.url}/token/introspection`);
  introspection.username = SERVICE.clientId;
  introspection.password = SERVICE.clientSecret;
  dovecot = await startDovecotAuth(path.join(dir, 'dovecot'), passwd, [
    'introspection_mode = post',
    `introspection_url = ${introspection.href}`,
    'username_attribute = email',
    'active_attribute = active',
    'active_value = true',
    'force_introspection = yes',
  ]);
  const secretFile = path.join(dir, 'oauth-client.secret');
  writeFileSync(secretFile, SERVICE.clientSecret, { mode: 0o600 });
  ours = path.join(dir, 'run', 'auth');
  daemon = await spawnDaemon(
    ['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--dovecot-socket', ours, '--oauth-issuer', provider.issuer, '--oauth-audience', 'urn:mail'].concat(
      ['--oauth-client-id', SERVICE.clientId, '--oauth-client-secret-file', secretFile, '--oauth-introspection-cache', '0', '--oauth-clock-skew', '0'],
    ),
    { forSuite: true },
  );
}, 60_000);

afterAll(async () => {
  await dovecot?.stop();
  await provider?.stop();
  await daemon?.stop();
  cleanup?.();
});

/**
 * Each login from an address of its own: Dovecot holds back a repeated failure of one user
 * from one address longer each time (and so would the daemon's throttle), which is not what
 * is compared here.
 */
let nextAddress = 1;

/** OK or FAIL, and the error challenge's status when there was one. */
async function answerOf(socket: string, mechanism: 'OAUTHBEARER' | 'XOAUTH2', message: string): Promise<{ answer: string | undefined; status?: string }> {
  const seen = await dovecotTokenLogin(socket, mechanism, message, `198.51.100.${nextAddress++}`);
  const last = seen.replies.at(-1);
  return { answer: last?.startsWith('OK\t') ? `OK ${/user=([^\t]+)/.exec(last)?.[1] ?? ''}` : last?.split('\t')[0], ...(seen.error ? { status: seen.error.status } : {}) };
}

describe("tokens: saslauthd-mysql's Dovecot listener answers as Dovecot's own oauth2 passdb", () => {
  it('agrees on an active token by either mechanism, a revoked one, an expired one, another user\'s, and a made-up one', async () => {
    const good = await provider.token(ALICE, 'urn:mail:opaque');
    const revoked = await provider.token(ALICE, 'urn:mail:opaque');
    await provider.revoke(ALICE, revoked);
    const expired = await provider.token(ALICE, 'urn:mail:opaque:short');
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const cases: Array<[string, 'OAUTHBEARER' | 'XOAUTH2', string]> = [
      ['an active token', 'OAUTHBEARER', oauthbearerMessage('alice@example.org', good)],
      ['an active token, XOAUTH2', 'XOAUTH2', xoauth2Message('alice@example.org', good)],
      ['a revoked token', 'OAUTHBEARER', oauthbearerMessage('alice@example.org', revoked)],
      ['an expired token', 'OAUTHBEARER', oauthbearerMessage('alice@example.org', expired)],
      ["another user's token", 'OAUTHBEARER', oauthbearerMessage('bob@example.org', good)],
      ['a made-up token', 'OAUTHBEARER', oauthbearerMessage('alice@example.org', 'made-up-token-0123456789')],
      ['a revoked token, XOAUTH2', 'XOAUTH2', xoauth2Message('alice@example.org', revoked)],
    ];
    for (const [what, mechanism, message] of cases) {
      const reference = await answerOf(dovecot.socketPath, mechanism, message);
      expect({ what, ...(await answerOf(ours, mechanism, message)) }).toEqual({ what, ...reference });
    }
    // And the reference did decide them: one success each way, the rest refused with the error first.
    expect(await answerOf(dovecot.socketPath, 'OAUTHBEARER', oauthbearerMessage('alice@example.org', good))).toEqual({ answer: 'OK alice@example.org' });
    expect(await answerOf(dovecot.socketPath, 'OAUTHBEARER', oauthbearerMessage('alice@example.org', revoked))).toEqual({ answer: 'FAIL', status: 'invalid_token' });
  }, 30_000);

  it('is stricter where it means to be: a token for another service, and one whose user has no mailbox', async () => {
    const otherService = oauthbearerMessage('alice@example.org', await provider.token(ALICE, 'urn:other:opaque'));
    const noMailbox = oauthbearerMessage('carol@example.org', await provider.token(CAROL, 'urn:mail:opaque'));
    // Dovecot's oauth2 passdb does not check the audience, nor (without a userdb lookup) the mailbox table.
    expect(await answerOf(dovecot.socketPath, 'OAUTHBEARER', otherService)).toEqual({ answer: 'OK alice@example.org' });
    expect(await answerOf(dovecot.socketPath, 'OAUTHBEARER', noMailbox)).toEqual({ answer: 'OK carol@example.org' });
    expect(await answerOf(ours, 'OAUTHBEARER', otherService)).toEqual({ answer: 'FAIL', status: 'invalid_token' });
    expect(await answerOf(ours, 'OAUTHBEARER', noMailbox)).toEqual({ answer: 'FAIL', status: 'invalid_token' });
  });
});
