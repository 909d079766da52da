import { describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import {
  encodeCountedString,
  encodeReply,
  encodeRequest,
  ReplyDecoder,
  RequestDecoder,
  type DecodeResult,
} from '../../src/protocol/codec.js';
import { MAX_FIELD_LENGTH, MAX_REPLY_LENGTH } from '../../src/protocol/limits.js';
import { bytes, deliveries, fieldEnd, FrameBuilder, requestFrame } from '../helpers/index.js';

function decode(chunks: Buffer[]): DecodeResult {
  const decoder = new RequestDecoder();
  let result: DecodeResult = { status: 'need-more' };
  for (const chunk of chunks) {
    result = decoder.push(chunk);
    if (result.status !== 'need-more') break;
  }
  return result;
}

function fieldsOf(result: DecodeResult) {
  if (result.status !== 'complete') throw new Error(`expected a complete request, got ${result.status}`);
  const { login, password, service, realm, clientAddress } = result.request;
  return {
    login: login.toString('latin1'),
    password: password.reveal().toString('latin1'),
    service: service.toString('latin1'),
    realm: realm.toString('latin1'),
    clientAddress: clientAddress?.toString('latin1'),
  };
}

const fourFieldCases = {
  'an ordinary login': { login: 'alice', password: 'secret', service: 'smtp', realm: 'example.org' },
  'empty service and realm': { login: 'bare', password: 'pw', service: '', realm: '' },
  'empty login and password (refused later, not by the codec)': { login: '', password: '', service: 'imap', realm: '' },
  'fields of exactly the limit': {
    login: 'l'.repeat(MAX_FIELD_LENGTH),
    password: 'p'.repeat(MAX_FIELD_LENGTH),
    service: 's'.repeat(MAX_FIELD_LENGTH),
    realm: 'r'.repeat(MAX_FIELD_LENGTH),
  },
};

describe('RequestDecoder: four-field requests', () => {
  for (const [name, parts] of Object.entries(fourFieldCases)) {
    const frame = requestFrame(parts);
    it(`decodes ${name} in every delivery`, () => {
      for (const delivery of deliveries(frame)) {
        expect(fieldsOf(decode(delivery.chunks)), delivery.name).toEqual({ ...parts, clientAddress: undefined });
      }
    });
  }

  it('keeps raw bytes that are not UTF-8, and NUL bytes, exactly', () => {
    const login = Buffer.from([0x61, 0x00, 0xff, 0xfe]);
    const password = Buffer.from([0xc3, 0x28, 0x00, 0x80]);
    for (const delivery of deliveries(requestFrame({ login, password }))) {
      const result = decode(delivery.chunks);
      expect(result.status).toBe('complete');
      if (result.status !== 'complete') return;
      expect(result.request.login.equals(login)).toBe(true);
      expect(result.request.password.reveal().equals(password)).toBe(true);
    }
  });

  it('waits, without answering, on every strict prefix of a request', () => {
    const frame = requestFrame();
    for (let length = 0; length < frame.length; length += 1) {
      expect(decode([frame.subarray(0, length)]).status, `prefix of ${length} bytes`).toBe('need-more');
    }
  });
});

describe('RequestDecoder: the optional fifth field', () => {
  const parts = { login: 'md5', password: 'pw', service: 'smtp', realm: 'example.org', clientAddress: '192.0.2.7;51234' };
  const frame = requestFrame(parts);
  const endOfRealm = fieldEnd(frame, 3);

  it('takes the client address when it arrives with the request', () => {
    expect(fieldsOf(decode([frame]))).toEqual(parts);
  });

  it('takes it from every split that falls inside the fifth field', () => {
    for (let split = endOfRealm + 1; split < frame.length; split += 1) {
      expect(fieldsOf(decode([frame.subarray(0, split), frame.subarray(split)])), `split at ${split}`).toEqual(parts);
    }
  });

  it('takes it from every split inside the first four fields', () => {
    for (let split = 1; split < endOfRealm; split += 1) {
      expect(fieldsOf(decode([frame.subarray(0, split), frame.subarray(split)])), `split at ${split}`).toEqual(parts);
    }
  });

  it('answers as a 4-field request when the bytes stop exactly after the realm (never waits for a fifth field)', () => {
    const decoder = new RequestDecoder();
    const result = decoder.push(frame.subarray(0, endOfRealm));
    expect(fieldsOf(result)).toEqual({ ...parts, clientAddress: undefined });
    // Byte by byte the fifth field never arrives together with the request either.
    expect(fieldsOf(decode([...frame].map((b) => Buffer.from([b]))))).toEqual({ ...parts, clientAddress: undefined });
  });

  it('ignores garbage after the fifth field', () => {
    const withGarbage = Buffer.concat([frame, bytes(5000, 'g')]);
    for (const delivery of [{ chunks: [withGarbage] }, { chunks: [frame, bytes(5000, 'g')] }]) {
      expect(fieldsOf(decode(delivery.chunks))).toEqual(parts);
    }
  });
});

describe('RequestDecoder: oversized fields', () => {
  const names = ['login', 'password', 'service', 'realm', 'clientAddress'] as const;

  names.forEach((name, index) => {
    it(`refuses a ${name} longer than ${MAX_FIELD_LENGTH} bytes as soon as its length prefix arrives`, () => {
      const builder = new FrameBuilder();
      for (let i = 0; i < index; i += 1) builder.field(`f${i}`);
      const upToPrefix = builder.declared(MAX_FIELD_LENGTH + 1).build();
      const tooLong = { status: 'field-too-long', field: name, length: MAX_FIELD_LENGTH + 1 };
      // Only the length prefix, no body: the refusal must not wait for 257 bytes.
      for (const delivery of deliveries(upToPrefix)) {
        const result = decode(delivery.chunks);
        const chunkEnds = delivery.chunks.slice(0, -1).reduce<number[]>((ends, chunk) => [...ends, (ends.at(-1) ?? 0) + chunk.length], []);
        if (name === 'clientAddress' && chunkEnds.includes(fieldEnd(upToPrefix, 3))) {
          // The bytes paused right after the realm: a complete 4-field request, answered at once.
          expect(result.status, delivery.name).toBe('complete');
        } else {
          expect(result, delivery.name).toEqual(tooLong);
        }
      }
    });
  });

  it('refuses the largest declarable length', () => {
    expect(decode([new FrameBuilder().declared(0xffff).build()])).toEqual({ status: 'field-too-long', field: 'login', length: 0xffff });
  });
});

describe('RequestDecoder: bounded memory', () => {
  it('holds less than one field while waiting, however the bytes arrive', () => {
    const decoder = new RequestDecoder();
    const frame = requestFrame({ login: 'l'.repeat(256), password: 'p'.repeat(256), service: 's'.repeat(256), realm: 'r'.repeat(200) });
    for (const byte of frame.subarray(0, frame.length - 1)) {
      decoder.push(Buffer.from([byte]));
      expect(decoder.bufferedBytes).toBeLessThanOrEqual(2 + MAX_FIELD_LENGTH);
    }
  });

  it('keeps nothing and answers the same once finished, whatever follows', () => {
    const decoder = new RequestDecoder();
    const first = decoder.push(requestFrame());
    expect(first.status).toBe('complete');
    expect(decoder.push(bytes(65536))).toBe(first);
    expect(decoder.bufferedBytes).toBe(0);
  });
});

describe('Secret', () => {
  it('never shows the password through JSON, inspect or string conversion', () => {
    const result = decode([requestFrame({ password: 'hunter2-very-secret' })]);
    if (result.status !== 'complete') throw new Error('not complete');
    const rendered = [JSON.stringify(result.request), inspect(result.request, { depth: 5, showHidden: true }), String(result.request.password), `${result.request.password}`];
    for (const text of rendered) expect(text).not.toContain('hunter2');
  });

  it('wipes the bytes', () => {
    const result = decode([requestFrame({ password: 'wipe-me' })]);
    if (result.status !== 'complete') throw new Error('not complete');
    result.request.password.wipe();
    expect(result.request.password.reveal().every((b) => b === 0)).toBe(true);
  });
});

describe('encoders', () => {
  it('round-trips a request through encodeRequest and the decoder', () => {
    const parts = { login: 'a@b', password: 'pässwörd', service: 'smtp', realm: 'example.org', clientAddress: '::1;25' };
    expect(encodeRequest(parts).equals(requestFrame(parts))).toBe(true);
    expect(fieldsOf(decode([encodeRequest(parts)]))).toEqual({ ...parts, password: Buffer.from('pässwörd').toString('latin1') });
  });

  it('frames a reply as a counted string', () => {
    expect(encodeReply('OK').equals(Buffer.from([0, 2, 0x4f, 0x4b]))).toBe(true);
    expect(encodeReply('NO ').equals(Buffer.from([0, 3, 0x4e, 0x4f, 0x20]))).toBe(true);
  });

  it(`cuts a reply to ${MAX_REPLY_LENGTH} bytes, as saslauthd does`, () => {
    const frame = encodeReply(`NO ${'x'.repeat(5000)}`);
    expect(frame.readUInt16BE(0)).toBe(MAX_REPLY_LENGTH);
    expect(frame.length).toBe(2 + MAX_REPLY_LENGTH);
  });

  it('refuses to encode a field past the limit unless told otherwise', () => {
    expect(() => encodeCountedString(bytes(257))).toThrow(RangeError);
    expect(encodeCountedString(bytes(257), 0xffff).readUInt16BE(0)).toBe(257);
  });
});

describe('ReplyDecoder', () => {
  for (const delivery of deliveries(encodeReply('NO authentication failed'))) {
    it(`collects a reply delivered ${delivery.name}`, () => {
      const decoder = new ReplyDecoder();
      let reply: Buffer | undefined;
      for (const chunk of delivery.chunks) {
        const result = decoder.push(chunk);
        if (result.status === 'complete') reply = result.reply;
      }
      expect(reply?.toString()).toBe('NO authentication failed');
    });
  }
});
