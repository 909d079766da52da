/**
 * A LoginRequest (src/protocol/request.ts) as a listener hands one over, for
 * tests that call the login path without a socket.
 */
import type { LoginRequest, ListenerName } from '../../src/protocol/request.js';
import { clientAddressOf } from '../../src/protocol/request.js';
import { Secret } from '../../src/protocol/secret.js';

export interface LoginFields {
  readonly login?: string | Buffer;
  readonly password?: string | Buffer;
  readonly service?: string | Buffer;
  readonly realm?: string | Buffer;
  /** As the mux socket's fifth field carries it: "addr;port". */
  readonly clientAddress?: string;
  readonly listener?: ListenerName;
}

const bytes = (value: string | Buffer): Buffer => (typeof value === 'string' ? Buffer.from(value) : Buffer.from(value));

export function loginRequest(fields: LoginFields = {}): LoginRequest {
  const client = fields.clientAddress === undefined ? undefined : clientAddressOf(Buffer.from(fields.clientAddress));
  return {
    listener: fields.listener ?? 'mux',
    login: bytes(fields.login ?? 'demo'),
    password: new Secret(bytes(fields.password ?? 'demo')),
    service: bytes(fields.service ?? 'smtp'),
    realm: bytes(fields.realm ?? 'example.org'),
    ...(client === undefined ? {} : { client }),
  };
}

/** Room to hold every answer: what a listener with space left says. */
export const ROOM = (): boolean => true;
