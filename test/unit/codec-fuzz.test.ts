/**
 * The request decoder under property-based fuzzing: random and mutated
 * frames, random split points, lengths at and past every limit, fifth fields
 * and garbage. Judged by an independent reading of the format
 * (test/helpers/fuzz.ts), not by the decoder's own logic.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestDecoder, type DecodeResult } from '../../src/protocol/codec.js';
import { LENGTH_PREFIX_BYTES, MAX_FIELD_LENGTH } from '../../src/protocol/limits.js';
import { fuzzParameters, mutatedFrameArb, referenceParse, splitArb, wellFormedFrameArb } from '../helpers/fuzz.js';

const PLAUSIBLE = ['demo', 'demo@example.org', 'example.org', 'smtp', 'imap', '', '192.0.2.7;25000'];

/** Feed the chunks, stopping at the first final answer, and keep what each step said. */
function feed(chunks: Buffer[]): { result: DecodeResult; consumed: Buffer; maxBuffered: number } {
  const decoder = new RequestDecoder();
  let result: DecodeResult = { status: 'need-more' };
  let maxBuffered = 0;
  const taken: Buffer[] = [];
  for (const chunk of chunks) {
    taken.push(chunk);
    result = decoder.push(chunk);
    maxBuffered = Math.max(maxBuffered, decoder.bufferedBytes);
    if (result.status !== 'need-more') break;
  }
  // A final answer never changes, whatever comes after it.
  const after = decoder.push(Buffer.from([0, 1, 0x41]));
  expect(after).toBe(result.status === 'need-more' ? after : result);
  return { result, consumed: Buffer.concat(taken), maxBuffered };
}

function fieldsOf(result: Extract<DecodeResult, { status: 'complete' }>): Buffer[] {
  const { login, password, service, realm, clientAddress } = result.request;
  return [login, Buffer.from(password.reveal()), service, realm, ...(clientAddress ? [clientAddress] : [])];
}

describe('RequestDecoder, fuzzed', () => {
  it('decodes any well-formed frame, split anywhere, to exactly its fields, and only once its last byte is in', () => {
    const frameAndSplit = wellFormedFrameArb(PLAUSIBLE).chain((frame) => fc.tuple(fc.constant(frame), splitArb(frame)));
    fc.assert(
      fc.property(frameAndSplit, ([frame, chunks]) => {
        const reference = referenceParse(frame);
        const { result, consumed } = feed(chunks);
        if (reference.fields.length === 4 || chunks.length === 1) {
          // A 4-field frame, or a 5-field frame in one write: exactly as sent.
          expect(result.status).toBe('complete');
          expect(consumed.length).toBe(frame.length);
          expect(fieldsOf(result as Extract<DecodeResult, { status: 'complete' }>)).toEqual(reference.fields);
        } else {
          // A 5-field frame in pieces: the fifth is taken only if it came with the fourth.
          expect(result.status).toBe('complete');
          const fields = fieldsOf(result as Extract<DecodeResult, { status: 'complete' }>);
          expect(fields.slice(0, 4)).toEqual(reference.fields.slice(0, 4));
          if (fields.length === 5) expect(fields[4]).toEqual(reference.fields[4]);
        }
      }),
      fuzzParameters(1000),
    );
  });

  it('on any bytes: never throws, holds less than one field, and every answer agrees with the format', () => {
    const input = mutatedFrameArb(wellFormedFrameArb(PLAUSIBLE)).chain((frame) => splitArb(frame));
    fc.assert(
      fc.property(input, (chunks) => {
        const { result, consumed, maxBuffered } = feed(chunks);
        expect(maxBuffered).toBeLessThan(LENGTH_PREFIX_BYTES + MAX_FIELD_LENGTH);
        const reference = referenceParse(consumed);
        switch (result.status) {
          case 'complete': {
            const fields = fieldsOf(result);
            expect(fields.length === 4 || fields.length === 5).toBe(true);
            for (const field of fields) expect(field.length).toBeLessThanOrEqual(MAX_FIELD_LENGTH);
            expect(fields).toEqual(reference.fields.slice(0, fields.length));
            // With four fields, nothing was left over: a fifth is never waited for, never invented.
            if (fields.length === 4) expect(reference.fields.length === 4 && reference.remainder === 0 && !reference.tooLong).toBe(true);
            break;
          }
          case 'field-too-long':
            expect(reference.tooLong).toEqual({ index: ['login', 'password', 'service', 'realm', 'clientAddress'].indexOf(result.field), length: result.length });
            break;
          case 'need-more':
            // Not yet four fields, or four with the start of a fifth still coming.
            expect(reference.tooLong).toBeUndefined();
            expect(reference.fields.length < 4 || (reference.fields.length === 4 && reference.remainder > 0)).toBe(true);
            break;
        }
      }),
      fuzzParameters(3000),
    );
  });
});
