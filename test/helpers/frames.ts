/**
 * Builds request frames for tests, so no test spells protocol bytes in hex.
 * (After pg-protocol's testing/buffer-list.ts.)
 */
export class FrameBuilder {
  readonly #parts: Buffer[] = [];

  /** A counted string with its true length. */
  field(value: string | Buffer): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return this.declared(bytes.length, bytes);
  }

  /** A counted string whose length prefix may lie about (or exceed) the bytes that follow. */
  declared(length: number, bytes: Buffer = Buffer.alloc(0)): this {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(length, 0);
    this.#parts.push(prefix, bytes);
    return this;
  }

  raw(bytes: Buffer | number[]): this {
    this.#parts.push(Buffer.from(bytes));
    return this;
  }

  build(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

export interface RequestParts {
  login?: string | Buffer;
  password?: string | Buffer;
  service?: string | Buffer;
  realm?: string | Buffer;
  clientAddress?: string | Buffer;
}

/** A well-formed request; defaults make a plausible Postfix login. */
export function requestFrame(parts: RequestParts = {}): Buffer {
  const builder = new FrameBuilder()
    .field(parts.login ?? 'alice')
    .field(parts.password ?? 'secret')
    .field(parts.service ?? 'smtp')
    .field(parts.realm ?? 'example.org');
  if (parts.clientAddress !== undefined) builder.field(parts.clientAddress);
  return builder.build();
}

/** Byte offset where field `index` (0-based) ends in a frame of well-formed fields. */
export function fieldEnd(frame: Buffer, index: number): number {
  let offset = 0;
  for (let i = 0; i <= index; i += 1) offset += 2 + frame.readUInt16BE(offset);
  return offset;
}

export function bytes(length: number, fill = 'x'): Buffer {
  return Buffer.alloc(length, fill);
}

