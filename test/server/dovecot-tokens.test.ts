/**
 * OAUTHBEARER and XOAUTH2 on the Dovecot protocol, end to end: a real
 * identity provider on loopback (oidc-provider) issues the tokens, the
 * daemon checks them and looks the mailbox up, and the client sees what
 * RFC 7628 says it should: OK, or the JSON error, its own acknowledgement,
 * then FAIL; and a closed connection (454 at Postfix) while the provider
 * cannot be asked.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_HASH, eventually, startTestDaemon } from '../helpers/daemon.js';
import { signingKey, ThrowawayIdentityProvider, tokenUser } from '../helpers/identity-provider.js';
import { afterThisTest } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/temp.js';
import { dovecotLineClient, dovecotTokenLogin as login, oauthbearerMessage as oauthbearer, xoauth2Message as xoauth2 } from '../helpers/dovecot-client.js';

const ALICE = tokenUser('alice');
const BOB = tokenUser('bob');
/** A user of the provider without a mailbox. */
const CAROL = tokenUser('carol');
const MAILBOXES = [`alice@example.org:${DEMO_HASH}`, `bob@example.org:${DEMO_HASH}`];
const A = '\x01';
const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');

let provider: ThrowawayIdentityProvider;

beforeAll(async () => {
  provider = await ThrowawayIdentityProvider.start([ALICE, BOB, CAROL]);
}, 30_000);

afterAll(async () => {
  await provider?.stop();
});

const client = dovecotLineClient;

async function start(issuer = provider.issuer) {
  const dovecotSocket = path.join(tempDir(), 'auth');
  const daemon = await startTestDaemon(MAILBOXES, { dovecotSocket, oauthIssuer: issuer, oauthAudience: 'urn:mail', oauthClockSkew: '0', oauthTimeout: '1000', oauthKeyRefresh: '1' });
  return { ...daemon, dovecotSocket };
}


describe('tokens on the Dovecot protocol', () => {
  it('offers OAUTHBEARER and XOAUTH2 beside PLAIN and LOGIN, flagged plaintext as Dovecot does', async () => {
    const { dovecotSocket } = await start();
    const c = client(dovecotSocket);
    await eventually(() => c.lines().includes('DONE'), 3000, 10);
    expect(c.lines().filter((line) => line.startsWith('MECH'))).toEqual(['MECH\tPLAIN\tplaintext', 'MECH\tLOGIN\tplaintext', 'MECH\tOAUTHBEARER\tplaintext', 'MECH\tXOAUTH2\tplaintext']);
    c.end();
  });

  it("logs in with a good token by either mechanism, as the mailbox's own name, and never logs the token", async () => {
    const { dovecotSocket, sink } = await start();
    const token = await provider.token(ALICE);
    expect((await login(dovecotSocket, 'OAUTHBEARER', oauthbearer('alice@example.org', token))).replies).toEqual(['OK\t1\tuser=alice@example.org']);
    expect((await login(dovecotSocket, 'XOAUTH2', xoauth2('alice@example.org', token))).replies).toEqual(['OK\t1\tuser=alice@example.org']);
    expect(sink.authEvents()).toEqual([expect.objectContaining({ result: 'success', scheme: 'OAUTHBEARER' }), expect.objectContaining({ result: 'success', scheme: 'XOAUTH2' })]);
    expect(sink.raw.join('')).not.toContain(token.split('.')[2]);
  });

  it('refuses with the error, then FAIL: an expired token, another audience, another issuer, an altered signature, another user, no mailbox', async () => {
    const { dovecotSocket, sink } = await start();
    const expired = await provider.token(ALICE, 'urn:mail:short');
    const other = await ThrowawayIdentityProvider.start([ALICE], { key: provider.key });
    afterThisTest(() => other.stop());
    const [header, payload, signature] = (await provider.token(ALICE)).split('.');
    const altered = `${header}.${payload}.${signature!.slice(0, -4)}${signature!.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const cases: Array<[string, string, string]> = [
      ['expired', oauthbearer('alice@example.org', expired), 'ERR_INVALID_TOKEN'],
      ['another audience', oauthbearer('alice@example.org', await provider.token(ALICE, 'urn:other')), 'ERR_INVALID_TOKEN'],
      ['another issuer', oauthbearer('alice@example.org', await other.token(ALICE)), 'ERR_INVALID_TOKEN'],
      ['altered signature', oauthbearer('alice@example.org', altered), 'ERR_INVALID_TOKEN'],
      ["another user's token", oauthbearer('bob@example.org', await provider.token(ALICE)), 'ERR_TOKEN_OTHER_USER'],
      ['no mailbox', oauthbearer('carol@example.org', await provider.token(CAROL)), 'ERR_UNKNOWN_USER'],
    ];
    for (const [what, response, code] of cases) {
      const seen = await login(dovecotSocket, 'OAUTHBEARER', response);
      expect({ what, ...seen }).toEqual({ what, replies: [expect.stringMatching(/^CONT\t1\t/) as unknown, 'FAIL\t1\treason=authentication failed'], error: { status: 'invalid_token', 'openid-configuration': `${provider.issuer}/.well-known/openid-configuration` }, closed: false });
      expect(sink.authEvents().at(-1)).toMatchObject({ result: 'failure', code });
    }
  }, 20_000);

  it('takes the token after an empty challenge when the client sends no initial response', async () => {
    const { dovecotSocket } = await start();
    const c = client(dovecotSocket);
    c.send('VERSION\t1\t0', 'CPID\t4242', 'AUTH\t1\tOAUTHBEARER\tservice=smtp\tsecured');
    await eventually(() => c.replies().length > 0, 3000, 10);
    expect(c.replies()).toEqual(['CONT\t1\t']);
    c.send(`CONT\t1\t${oauthbearer('alice@example.org', await provider.token(ALICE))}`);
    await eventually(() => c.replies().length > 1, 5000, 10);
    expect(c.replies()[1]).toBe('OK\t1\tuser=alice@example.org');
    c.end();
  });

  it("gives XOAUTH2's own error and takes its empty acknowledgement", async () => {
    const { dovecotSocket } = await start();
    const seen = await login(dovecotSocket, 'XOAUTH2', xoauth2('alice@example.org', await provider.token(ALICE, 'urn:other')));
    expect(seen).toMatchObject({ replies: [expect.stringMatching(/^CONT\t1\t/), 'FAIL\t1\treason=authentication failed'], error: { status: '401', schemes: 'bearer' } });
  });

  it('answers a message that is not one with invalid_request, and a missing authorization identity too', async () => {
    const { dovecotSocket } = await start();
    expect(await login(dovecotSocket, 'OAUTHBEARER', b64(`n,a=alice@example.org,auth=Bearer x${A}${A}`))).toMatchObject({ error: { status: 'invalid_request' }, replies: [expect.anything(), 'FAIL\t1\treason=authentication failed'] });
    expect(await login(dovecotSocket, 'OAUTHBEARER', b64(`n,,${A}auth=Bearer ${await provider.token(ALICE)}${A}${A}`))).toMatchObject({ error: { status: 'invalid_request' } });
  });

  it('closes the connection (a temporary failure) while the provider cannot be asked, and logs in again once it is back', async () => {
    const own = await ThrowawayIdentityProvider.start([ALICE], { key: await signingKey('own-key') });
    afterThisTest(() => own.stop());
    const token = await own.token(ALICE);
    await own.stop();
    const { dovecotSocket, sink } = await start(own.issuer);
    const seen = await login(dovecotSocket, 'OAUTHBEARER', oauthbearer('alice@example.org', token));
    expect(seen).toEqual({ replies: [], closed: true });
    expect(sink.authEvents().at(-1)).toMatchObject({ result: 'temporary-failure', code: 'ERR_TOKEN_PROVIDER_UNAVAILABLE' });
    await own.restart();
    await eventually(async () => (await login(dovecotSocket, 'OAUTHBEARER', oauthbearer('alice@example.org', token))).replies[0] === 'OK\t1\tuser=alice@example.org', 5000, 200);
  }, 15_000);

  it('counts refused tokens against the name and the address: the throttle holds back the next answers', async () => {
    const { dovecotSocket, sink } = await start();
    const wrong = oauthbearer('alice@example.org', await provider.token(ALICE, 'urn:other'));
    for (let i = 0; i < 6; i += 1) await login(dovecotSocket, 'OAUTHBEARER', wrong);
    expect(sink.authEvents().some((event) => typeof event.delayMs === 'number' && event.delayMs > 0)).toBe(true);
  }, 20_000);
});
