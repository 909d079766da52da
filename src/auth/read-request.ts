/**
 * The first step of a login: the request's bytes become names. Each field is
 * decoded once; the login and realm become the lookup key as saslauthd -r
 * joins them, and names that cannot be a mailbox (invalid UTF-8, control
 * characters) are refused here, before any backend sees them. Whatever
 * happens, the names come back in a form safe to log. `saslauthd-mysql
 * check` reads the login it is given through the same function.
 */
import type { LoginRequest } from '../protocol/request.js';
import type { LookupQuery } from '../backends/backend.js';
import { joinLogin, type RealmPolicy } from '../realm/login-key.js';
import { decodeName, escapeForLog, type DecodedText } from '../realm/text.js';
import { ErrorCodes } from '../errors.js';
import type { LoginNames, Outcome } from './outcome.js';

/** What reading needs of a request: everything but the password. */
export type RequestNames = Omit<LoginRequest, 'password'>;

export type ReadRequest =
  | { readonly ok: true; readonly names: LoginNames; readonly query: LookupQuery }
  | { readonly ok: false; readonly names: LoginNames; readonly refusal: Outcome };

export function readRequest(request: RequestNames, policy: RealmPolicy, mech: string): ReadRequest {
  const login = decodeName(request.login);
  const realm = decodeName(request.realm);
  const service = decodeName(request.service);
  const serviceName = printable(service, request.service);
  if (!login.ok || !realm.ok) {
    const names = named(request, printable(login, request.login), serviceName, printable(realm, request.realm), mech);
    const problem = !login.ok ? `invalid login: ${login.problem}` : !realm.ok ? `invalid realm: ${realm.problem}` : '';
    return refuse(names, { result: 'failure', code: ErrorCodes.INVALID_LOGIN, reason: problem });
  }
  const key = joinLogin(login.text, realm.text, policy);
  const names = named(request, key.user, serviceName, key.realm, mech);
  if (!service.ok) return refuse(names, { result: 'failure', code: ErrorCodes.INVALID_SERVICE, reason: `invalid service: ${service.problem}` });
  const query: LookupQuery =
    request.client === undefined ? { user: key.user, realm: key.realm, service: service.text } : { user: key.user, realm: key.realm, service: service.text, address: request.client.address };
  return { ok: true, names, query };
}

const refuse = (names: LoginNames, refusal: Outcome): ReadRequest => ({ ok: false, names, refusal });

function named(request: RequestNames, user: string, service: string, realm: string, mech: string): LoginNames {
  const { client, claimedClient, secured, listener } = request;
  // Built in place, in the log line's order: a property added to a fresh literal follows a cached transition.
  const names: Writable<LoginNames> = client === undefined ? { user, service, realm, mech } : { user, service, realm, mech, remote: client.sent };
  if (claimedClient !== undefined) names.claimedRemote = claimedClient;
  if (secured !== undefined) names.secured = secured;
  // The mux socket, by far the most common, is the one a line does not name.
  if (listener !== 'mux') names.listener = listener;
  return names;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** Names as they arrived, made safe to print even when they are not valid text. */
function printable(decoded: DecodedText, bytes: Buffer): string {
  return decoded.ok ? decoded.text : escapeForLog(bytes);
}
