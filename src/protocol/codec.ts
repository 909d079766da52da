/**
 * The saslauthd mux wire format, bytes in and bytes out, with no socket code.
 *
 * A request is four (optionally five) counted strings: a 16-bit big-endian
 * length followed by that many raw bytes. A reply is one counted string.
 */
import {
  LENGTH_PREFIX_BYTES,
  MAX_FIELD_COUNT,
  MAX_FIELD_LENGTH,
  MAX_REPLY_LENGTH,
  REQUIRED_FIELD_COUNT,
} from './limits.js';
import { Secret } from './secret.js';

export const FIELD_NAMES = ['login', 'password', 'service', 'realm', 'clientAddress'] as const;
export type FieldName = (typeof FIELD_NAMES)[number];

/** The fields as the wire carries them; the connection makes a LoginRequest (request.ts) of them. */
export interface MuxRequest {
  readonly login: Buffer;
  readonly password: Secret;
  readonly service: Buffer;
  readonly realm: Buffer;
  /** Only from clients that send the fifth field (cyrus-sasl master): "addr;port". */
  readonly clientAddress?: Buffer;
}

export type DecodeResult =
  | { readonly status: 'need-more' }
  | { readonly status: 'complete'; readonly request: MuxRequest }
  | { readonly status: 'field-too-long'; readonly field: FieldName; readonly length: number };

const NEED_MORE: DecodeResult = Object.freeze({ status: 'need-more' });

/**
 * Incremental request decoder: feed it chunks as they arrive, it keeps only
 * the unparsed remainder (less than one field) and answers once the request is
 * complete or broken. After that it ignores further input.
 *
 * The optional fifth field is taken only when its bytes arrived together with
 * the first four: a 4-field client sends nothing more and must never be made
 * to wait for a field that is not coming.
 */
export class RequestDecoder {
  #pending: Buffer = Buffer.alloc(0);
  readonly #fields: Buffer[] = [];
  #final: DecodeResult | undefined;

  push(chunk: Buffer): DecodeResult {
    if (this.#final) return this.#final;
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);

    for (;;) {
      const count = this.#fields.length;
      if (count === MAX_FIELD_COUNT || (count === REQUIRED_FIELD_COUNT && this.#pending.length === 0)) {
        return this.#finish({ status: 'complete', request: this.#buildRequest() });
      }
      if (this.#pending.length < LENGTH_PREFIX_BYTES) return NEED_MORE;

      const length = this.#pending.readUInt16BE(0);
      if (length > MAX_FIELD_LENGTH) {
        return this.#finish({ status: 'field-too-long', field: FIELD_NAMES[count]!, length });
      }
      const end = LENGTH_PREFIX_BYTES + length;
      if (this.#pending.length < end) return NEED_MORE;

      // Copy, so a password can be wiped without touching the peer's chunk.
      this.#fields.push(Buffer.from(this.#pending.subarray(LENGTH_PREFIX_BYTES, end)));
      this.#pending = this.#pending.subarray(end);
    }
  }

  /** How many bytes are buffered but not yet part of a field (always below one field). */
  get bufferedBytes(): number {
    return this.#pending.length;
  }

  #finish(result: DecodeResult): DecodeResult {
    this.#final = result;
    this.#pending = Buffer.alloc(0);
    return result;
  }

  #buildRequest(): MuxRequest {
    const [login, password, service, realm, clientAddress] = this.#fields as [
      Buffer,
      Buffer,
      Buffer,
      Buffer,
      Buffer | undefined,
    ];
    const request: MuxRequest = { login, password: new Secret(password), service, realm };
    return clientAddress === undefined ? request : Object.assign(request, { clientAddress });
  }
}

/** One counted string: 16-bit big-endian length, then the bytes. */
export function encodeCountedString(value: Buffer | string, maxLength = MAX_FIELD_LENGTH): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.length > maxLength) {
    throw new RangeError(`counted string of ${bytes.length} bytes exceeds ${maxLength}`);
  }
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, LENGTH_PREFIX_BYTES);
  return out;
}

/** A reply frame. Text past saslauthd's reply buffer is cut, as saslauthd does. */
export function encodeReply(text: string): Buffer {
  let bytes = Buffer.from(text, 'utf8');
  if (bytes.length > MAX_REPLY_LENGTH) bytes = bytes.subarray(0, MAX_REPLY_LENGTH);
  return encodeCountedString(bytes, MAX_REPLY_LENGTH);
}

export interface RequestFields {
  login: Buffer | string;
  password: Buffer | string;
  service: Buffer | string;
  realm: Buffer | string;
  clientAddress?: Buffer | string;
}

/** A request frame, as libsasl2 sends it: all fields in one buffer, for one write. */
export function encodeRequest(fields: RequestFields, maxFieldLength = MAX_FIELD_LENGTH): Buffer {
  const parts = [fields.login, fields.password, fields.service, fields.realm];
  if (fields.clientAddress !== undefined) parts.push(fields.clientAddress);
  return Buffer.concat(parts.map((part) => encodeCountedString(part, maxFieldLength)));
}

/** The most a counted string can declare; a client may send past the daemon's limit to test it. */
export const MAX_COUNTED_STRING = 0xffff;

export type ReplyDecodeResult =
  | { readonly status: 'need-more' }
  | { readonly status: 'complete'; readonly reply: Buffer };

/** Client side: collects one counted-string reply. Used by the probe. */
export class ReplyDecoder {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): ReplyDecodeResult {
    this.#pending = Buffer.concat([this.#pending, chunk]);
    if (this.#pending.length < LENGTH_PREFIX_BYTES) return { status: 'need-more' };
    const length = this.#pending.readUInt16BE(0);
    if (this.#pending.length < LENGTH_PREFIX_BYTES + length) return { status: 'need-more' };
    return { status: 'complete', reply: this.#pending.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + length) };
  }

  get bufferedBytes(): number {
    return this.#pending.length;
  }
}
