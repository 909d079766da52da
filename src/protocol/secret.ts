import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A password as received: raw bytes, never normalised, never printable.
 *
 * The bytes live in a private field, so JSON.stringify, util.inspect, pino and
 * error serialisers all see "[redacted]". Only the verifier calls reveal().
 */
export class Secret {
  readonly #bytes: Buffer;

  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  get byteLength(): number {
    return this.#bytes.length;
  }

  /** The raw bytes, for the one place that has to compare them. */
  reveal(): Buffer {
    return this.#bytes;
  }

  /** Overwrite the bytes once the request is answered (saslauthd does the same with memset). */
  wipe(): void {
    this.#bytes.fill(0);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}
