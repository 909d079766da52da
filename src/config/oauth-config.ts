/**
 * --oauth-issuer and the settings that go with it, checked together (each
 * is useless without the issuer): which identity provider's access tokens
 * OAUTHBEARER and XOAUTH2 accept on the Dovecot protocol (src/oauth/).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { exposedSecretWarning } from '../common/exposed-file.js';
import { acceptableEndpoint } from '../oauth/issuer-metadata.js';
import type { AccessTokenSettings } from '../oauth/access-tokens.js';
import type { OptionReader } from './option-reader.js';

export interface OauthConfig extends AccessTokenSettings {
  /** Said once at start-up: a client secret file others can read. */
  readonly warnings: readonly string[];
}

const WITH_ISSUER = ['oauthAudience', 'oauthScope', 'oauthClaim', 'oauthClockSkew', 'oauthTimeout', 'oauthKeyRefresh', 'oauthClientId', 'oauthClientSecretFile', 'oauthIntrospectionCache'] as const;

export function resolveOauth(read: OptionReader, cwd: string, dovecotOffered: boolean): { oauth?: OauthConfig } {
  const issuer = read.text('oauthIssuer');
  // Read (and range-checked) whether or not the issuer is set, as every number is.
  const clockSkewS = read.number('oauthClockSkew');
  const deadlineMs = read.number('oauthTimeout');
  const refreshMs = read.number('oauthKeyRefresh') * 1000;
  const reuseMs = read.number('oauthIntrospectionCache') * 1000;
  if (!issuer) {
    for (const name of WITH_ISSUER) {
      const stray = read.layer(name) === undefined ? undefined : read.text(name);
      if (stray) throw new ConfigError(stray.key, 'only means something with --oauth-issuer (SASLAUTHD_MYSQL_OAUTH_ISSUER): set that too, or remove this');
    }
    return {};
  }
  let url: URL;
  try {
    url = new URL(issuer.value.trim());
  } catch {
    throw new ConfigError(issuer.key, 'expected the identity provider\'s issuer identifier, a URL such as https://id.example.org/realms/mail');
  }
  if (!acceptableEndpoint(url)) throw new ConfigError(issuer.key, 'expected https:// (http:// only to this host): keys fetched over plain HTTP could be anyone\'s');
  if (url.search !== '' || url.hash !== '') throw new ConfigError(issuer.key, 'an issuer identifier has no query or fragment');
  if (!dovecotOffered) throw new ConfigError(issuer.key, 'tokens arrive only over the Dovecot protocol (saslauthd\'s socket carries passwords): set --dovecot-socket or --dovecot-listen too');
  const audience = read.text('oauthAudience');
  if (!audience || audience.value.trim() === '') throw new ConfigError(issuer.key, 'needs --oauth-audience (SASLAUTHD_MYSQL_OAUTH_AUDIENCE): the aud the provider puts in tokens for this mail service, so that a token for another service is refused');
  const claim = read.textOrDefault('oauthClaim').trim();
  if (!/^[A-Za-z0-9_.:-]+$/.test(claim)) throw new ConfigError(read.text('oauthClaim')?.key ?? '--oauth-claim', 'expected a claim name such as email or preferred_username');
  const scopeGiven = read.text('oauthScope');
  const scope = scopeGiven?.value.trim();
  if (scopeGiven && !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope!)) throw new ConfigError(scopeGiven.key, 'expected one scope token (no spaces or quotes)');
  const { introspection, warnings } = resolveIntrospection(read, cwd, reuseMs);
  return {
    oauth: {
      ...(introspection ? { introspection } : {}),
      warnings,
      // As given: tokens' iss and the discovery document must say it exactly.
      issuer: issuer.value.trim(),
      audience: audience.value.trim(),
      claim,
      ...(scope !== undefined ? { scope } : {}),
      clockSkewS,
      deadlineMs,
      refreshMs,
    },
  };
}

/** The daemon's client for introspection: its id and the secret from its file, checked together. */
function resolveIntrospection(read: OptionReader, cwd: string, reuseMs: number): { introspection?: NonNullable<AccessTokenSettings['introspection']>; warnings: string[] } {
  const clientId = read.text('oauthClientId');
  const secretFile = read.text('oauthClientSecretFile');
  if (!clientId) {
    if (secretFile) throw new ConfigError(secretFile.key, 'only means something with --oauth-client-id: set that too, or remove this');
    return { warnings: [] };
  }
  if (!secretFile) throw new ConfigError(clientId.key, "needs --oauth-client-secret-file: a file holding the client's secret at the identity provider");
  const file = path.resolve(cwd, secretFile.value);
  let clientSecret: string;
  try {
    clientSecret = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(secretFile.key, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (clientSecret === '') throw new ConfigError(secretFile.key, `${file} is empty`);
  // A new secret in the same file is a change a reload cannot apply: its digest stands for it.
  read.note('oauthClientSecretFile', { file, secret: createHash('sha256').update(clientSecret).digest('base64url') });
  const exposed = exposedSecretWarning(file, "the identity provider's client secret");
  return { introspection: { clientId: clientId.value.trim(), clientSecret, reuseMs }, warnings: exposed ? [exposed] : [] };
}
