/**
 * Shared pieces of the property-based (fast-check) suites: how many cases to
 * run, generators of hostile frames, and an independent reading of the wire
 * format to judge the daemon's answers by.
 *
 * CI runs a bounded number of cases; `npm run fuzz` (FUZZ_RUNS=...) runs many
 * more. A failure prints fast-check's seed and path: FUZZ_SEED=<seed> replays it.
 */
import fc from 'fast-check';
import { MAX_FIELD_LENGTH } from '../../src/protocol/limits.js';

/** Cases per property: the suite's own bound, or FUZZ_RUNS when that asks for more (a longer run on demand). */
export function fuzzRuns(bounded: number): number {
  const asked = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(asked) && asked > bounded ? asked : bounded;
}

/** fast-check parameters: the run count, and a seed to replay a reported failure. */
export function fuzzParameters(bounded: number): fc.Parameters<unknown> {
  const seed = Number(process.env.FUZZ_SEED);
  return { numRuns: fuzzRuns(bounded), ...(Number.isInteger(seed) ? { seed } : {}) };
}

export const counted = (bytes: Uint8Array): Buffer => {
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(bytes.length, 0);
  return Buffer.concat([prefix, Buffer.from(bytes)]);
};

/** Field contents: mostly plausible names, sometimes the exact limits, sometimes any bytes. */
export function fieldArb(plausible: readonly string[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...plausible).map((text) => new Uint8Array(Buffer.from(text))) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constantFrom(0, 1, MAX_FIELD_LENGTH - 1, MAX_FIELD_LENGTH).map((length) => new Uint8Array(length).fill(0x61)) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: MAX_FIELD_LENGTH - 2, maxLength: MAX_FIELD_LENGTH }) },
  );
}

/** A frame of 4 or 5 counted strings, every one within the limit. */
export function wellFormedFrameArb(plausible: readonly string[]): fc.Arbitrary<Buffer> {
  return fc.array(fieldArb(plausible), { minLength: 4, maxLength: 5 }).map((fields) => Buffer.concat(fields.map(counted)));
}

/** What a hostile peer does to a frame before sending it. */
export function mutatedFrameArb(base: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  const declared = fc.constantFrom(0, 1, MAX_FIELD_LENGTH, MAX_FIELD_LENGTH + 1, 0x7fff, 0xffff).chain((fixed) => fc.oneof(fc.constant(fixed), fc.integer({ min: 0, max: 0xffff })));
  return fc.oneof(
    { weight: 3, arbitrary: base },
    // A byte changed somewhere.
    { weight: 3, arbitrary: fc.tuple(base, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([frame, at, xor]) => { const out = Buffer.from(frame); if (out.length > 0) out[at % out.length]! ^= xor; return out; }) },
    // Cut short: the peer closes or stalls before the end.
    { weight: 2, arbitrary: fc.tuple(base, fc.nat()).map(([frame, at]) => frame.subarray(0, at % (frame.length + 1))) },
    // Garbage after the request.
    { weight: 2, arbitrary: fc.tuple(base, fc.uint8Array({ minLength: 1, maxLength: 600 })).map(([frame, garbage]) => Buffer.concat([frame, garbage])) },
    // A length prefix that lies, at or past every limit.
    { weight: 2, arbitrary: fc.tuple(base, fc.nat(), declared).map(([frame, at, length]) => { const out = Buffer.from(frame); if (out.length >= 2) out.writeUInt16BE(length, Math.min(at % out.length, out.length - 2)); return out; }) },
    // Nothing like a request at all.
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((bytes) => Buffer.from(bytes)) },
  );
}

/** A frame cut into chunks at random points, as a peer's writes may arrive. */
export function splitArb(frame: Buffer): fc.Arbitrary<Buffer[]> {
  return fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, frame.length - 1) }), { maxLength: 6 }).map((points) => {
    const cuts = [0, ...points.filter((p) => p < frame.length).sort((a, b) => a - b), frame.length];
    const chunks = cuts.slice(1).map((end, i) => frame.subarray(cuts[i], end));
    return chunks.length > 0 ? chunks.filter((chunk) => chunk.length > 0) : [frame];
  });
}

export interface ReferenceParse {
  /** Every complete counted string, in order, as long as each is within the limit. */
  readonly fields: Buffer[];
  /** Set when a length prefix declares more than the limit: which field and how long. */
  readonly tooLong?: { readonly index: number; readonly length: number };
  /** Bytes after the last complete field that do not make a whole one. */
  readonly remainder: number;
}

/** The wire format read independently of the daemon's decoder: counted strings, up to five. */
export function referenceParse(bytes: Buffer): ReferenceParse {
  const fields: Buffer[] = [];
  let offset = 0;
  while (fields.length < 5 && bytes.length - offset >= 2) {
    const length = bytes.readUInt16BE(offset);
    if (length > MAX_FIELD_LENGTH) return { fields, tooLong: { index: fields.length, length }, remainder: bytes.length - offset };
    if (bytes.length - offset - 2 < length) break;
    fields.push(bytes.subarray(offset + 2, offset + 2 + length));
    offset += 2 + length;
  }
  return { fields, remainder: bytes.length - offset };
}
