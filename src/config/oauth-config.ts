/**
 * --oauth-issuer and the settings that go with it, checked together (each
 * is useless without the issuer): which identity provider's access tokens
 * OAUTHBEARER and XOAUTH2 accept on the Dovecot protocol (src/oauth/).
 */
import { ConfigError } from '../errors.js';
import { acceptableEndpoint } from '../oauth/issuer-metadata.js';
import type { AccessTokenSettings } from '../oauth/access-tokens.js';
import type { OptionReader } from './option-reader.js';

export type OauthConfig = AccessTokenSettings;

const WITH_ISSUER = ['oauthAudience', 'oauthScope', 'oauthClaim', 'oauthClockSkew', 'oauthTimeout', 'oauthKeyRefresh'] as const;

export function resolveOauth(read: OptionReader, dovecotOffered: boolean): { oauth?: OauthConfig } {
  const issuer = read.text('oauthIssuer');
  // Read (and range-checked) whether or not the issuer is set, as every number is.
  const clockSkewS = read.number('oauthClockSkew');
  const deadlineMs = read.number('oauthTimeout');
  const refreshMs = read.number('oauthKeyRefresh') * 1000;
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
  return {
    oauth: {
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
