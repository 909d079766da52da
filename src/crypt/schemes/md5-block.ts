/**
 * MD5 over a caller-owned scratch buffer, for md5crypt's 1000 rounds of tiny
 * inputs. node:crypto costs about two microseconds of set-up per hash, which
 * dominates when each input is one 64-byte block; this costs a fraction.
 * Only md5crypt uses it (MD5 is no longer a general-purpose hash).
 *
 * Four plain loops, one per round of RFC 1321: V8 keeps these in int32
 * arithmetic. (A fully unrolled version measured three times slower: it
 * exceeds V8's inlining budget.)
 */

const X = new Int32Array(16);
const STATE = new Int32Array(4);

/** On little-endian hosts (x86, ARM) MD5's message words can be read straight from memory. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** A reusable input buffer with a word view over the same memory. */
export class Md5Scratch {
  readonly bytes: Uint8Array;
  readonly words: Int32Array;

  /** Room for inputs of up to `capacity` bytes (padding is added on top). */
  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    const size = (((capacity + 8) >>> 6) + 1) << 6;
    this.bytes = new Uint8Array(size);
    this.words = new Int32Array(this.bytes.buffer);
  }
}

/**
 * MD5 of scratch.bytes[0..length), written to out[0..16). The scratch's tail
 * past `length` is overwritten by the padding.
 */
export function md5Into(scratch: Md5Scratch, length: number, out: Uint8Array): void {
  const buffer = scratch.bytes;
  const end = (((length + 8) >>> 6) + 1) << 6;
  buffer[length] = 0x80;
  buffer.fill(0, length + 1, end);
  const bits = length * 8;
  buffer[end - 8] = bits & 0xff;
  buffer[end - 7] = (bits >>> 8) & 0xff;
  buffer[end - 6] = (bits >>> 16) & 0xff;
  buffer[end - 5] = (bits >>> 24) & 0xff;

  STATE[0] = 0x67452301;
  STATE[1] = 0xefcdab89 | 0;
  STATE[2] = 0x98badcfe | 0;
  STATE[3] = 0x10325476;
  for (let offset = 0; offset < end; offset += 64) {
    if (LITTLE_ENDIAN) {
      compress(scratch.words, offset >>> 2);
    } else {
      readWords(buffer, offset);
      compress(X, 0);
    }
  }

  for (let i = 0; i < 4; i += 1) {
    const word = STATE[i]!;
    out[i * 4] = word & 0xff;
    out[i * 4 + 1] = (word >>> 8) & 0xff;
    out[i * 4 + 2] = (word >>> 16) & 0xff;
    out[i * 4 + 3] = (word >>> 24) & 0xff;
  }
}

function readWords(buffer: Uint8Array, offset: number): void {
  for (let j = 0; j < 16; j += 1) {
    const p = offset + (j << 2);
    X[j] = buffer[p]! | (buffer[p + 1]! << 8) | (buffer[p + 2]! << 16) | (buffer[p + 3]! << 24);
  }
}

/**
 * One 64-byte block, message words w[base..base+16). The 64 steps of
 * RFC 1321 are written out with their constants, and the words are held in
 * locals: V8 then keeps everything in int32 registers, which runs much faster
 * than a table-driven loop (docs/BENCHMARKS.md).
 */
function compress(w: Int32Array, base: number): void {
  const x0 = w[base]!, x1 = w[base + 1]!, x2 = w[base + 2]!, x3 = w[base + 3]!;
  const x4 = w[base + 4]!, x5 = w[base + 5]!, x6 = w[base + 6]!, x7 = w[base + 7]!;
  const x8 = w[base + 8]!, x9 = w[base + 9]!, x10 = w[base + 10]!, x11 = w[base + 11]!;
  const x12 = w[base + 12]!, x13 = w[base + 13]!, x14 = w[base + 14]!, x15 = w[base + 15]!;
  let a = STATE[0]!;
  let b = STATE[1]!;
  let c = STATE[2]!;
  let d = STATE[3]!;
  let t: number;
  t = (a + ((b & c) | (~b & d)) + x0 - 680876936) | 0;
  a = (b + ((t << 7) | (t >>> 25))) | 0;
  t = (d + ((a & b) | (~a & c)) + x1 - 389564586) | 0;
  d = (a + ((t << 12) | (t >>> 20))) | 0;
  t = (c + ((d & a) | (~d & b)) + x2 + 606105819) | 0;
  c = (d + ((t << 17) | (t >>> 15))) | 0;
  t = (b + ((c & d) | (~c & a)) + x3 - 1044525330) | 0;
  b = (c + ((t << 22) | (t >>> 10))) | 0;
  t = (a + ((b & c) | (~b & d)) + x4 - 176418897) | 0;
  a = (b + ((t << 7) | (t >>> 25))) | 0;
  t = (d + ((a & b) | (~a & c)) + x5 + 1200080426) | 0;
  d = (a + ((t << 12) | (t >>> 20))) | 0;
  t = (c + ((d & a) | (~d & b)) + x6 - 1473231341) | 0;
  c = (d + ((t << 17) | (t >>> 15))) | 0;
  t = (b + ((c & d) | (~c & a)) + x7 - 45705983) | 0;
  b = (c + ((t << 22) | (t >>> 10))) | 0;
  t = (a + ((b & c) | (~b & d)) + x8 + 1770035416) | 0;
  a = (b + ((t << 7) | (t >>> 25))) | 0;
  t = (d + ((a & b) | (~a & c)) + x9 - 1958414417) | 0;
  d = (a + ((t << 12) | (t >>> 20))) | 0;
  t = (c + ((d & a) | (~d & b)) + x10 - 42063) | 0;
  c = (d + ((t << 17) | (t >>> 15))) | 0;
  t = (b + ((c & d) | (~c & a)) + x11 - 1990404162) | 0;
  b = (c + ((t << 22) | (t >>> 10))) | 0;
  t = (a + ((b & c) | (~b & d)) + x12 + 1804603682) | 0;
  a = (b + ((t << 7) | (t >>> 25))) | 0;
  t = (d + ((a & b) | (~a & c)) + x13 - 40341101) | 0;
  d = (a + ((t << 12) | (t >>> 20))) | 0;
  t = (c + ((d & a) | (~d & b)) + x14 - 1502002290) | 0;
  c = (d + ((t << 17) | (t >>> 15))) | 0;
  t = (b + ((c & d) | (~c & a)) + x15 + 1236535329) | 0;
  b = (c + ((t << 22) | (t >>> 10))) | 0;
  t = (a + ((d & b) | (~d & c)) + x1 - 165796510) | 0;
  a = (b + ((t << 5) | (t >>> 27))) | 0;
  t = (d + ((c & a) | (~c & b)) + x6 - 1069501632) | 0;
  d = (a + ((t << 9) | (t >>> 23))) | 0;
  t = (c + ((b & d) | (~b & a)) + x11 + 643717713) | 0;
  c = (d + ((t << 14) | (t >>> 18))) | 0;
  t = (b + ((a & c) | (~a & d)) + x0 - 373897302) | 0;
  b = (c + ((t << 20) | (t >>> 12))) | 0;
  t = (a + ((d & b) | (~d & c)) + x5 - 701558691) | 0;
  a = (b + ((t << 5) | (t >>> 27))) | 0;
  t = (d + ((c & a) | (~c & b)) + x10 + 38016083) | 0;
  d = (a + ((t << 9) | (t >>> 23))) | 0;
  t = (c + ((b & d) | (~b & a)) + x15 - 660478335) | 0;
  c = (d + ((t << 14) | (t >>> 18))) | 0;
  t = (b + ((a & c) | (~a & d)) + x4 - 405537848) | 0;
  b = (c + ((t << 20) | (t >>> 12))) | 0;
  t = (a + ((d & b) | (~d & c)) + x9 + 568446438) | 0;
  a = (b + ((t << 5) | (t >>> 27))) | 0;
  t = (d + ((c & a) | (~c & b)) + x14 - 1019803690) | 0;
  d = (a + ((t << 9) | (t >>> 23))) | 0;
  t = (c + ((b & d) | (~b & a)) + x3 - 187363961) | 0;
  c = (d + ((t << 14) | (t >>> 18))) | 0;
  t = (b + ((a & c) | (~a & d)) + x8 + 1163531501) | 0;
  b = (c + ((t << 20) | (t >>> 12))) | 0;
  t = (a + ((d & b) | (~d & c)) + x13 - 1444681467) | 0;
  a = (b + ((t << 5) | (t >>> 27))) | 0;
  t = (d + ((c & a) | (~c & b)) + x2 - 51403784) | 0;
  d = (a + ((t << 9) | (t >>> 23))) | 0;
  t = (c + ((b & d) | (~b & a)) + x7 + 1735328473) | 0;
  c = (d + ((t << 14) | (t >>> 18))) | 0;
  t = (b + ((a & c) | (~a & d)) + x12 - 1926607734) | 0;
  b = (c + ((t << 20) | (t >>> 12))) | 0;
  t = (a + (b ^ c ^ d) + x5 - 378558) | 0;
  a = (b + ((t << 4) | (t >>> 28))) | 0;
  t = (d + (a ^ b ^ c) + x8 - 2022574463) | 0;
  d = (a + ((t << 11) | (t >>> 21))) | 0;
  t = (c + (d ^ a ^ b) + x11 + 1839030562) | 0;
  c = (d + ((t << 16) | (t >>> 16))) | 0;
  t = (b + (c ^ d ^ a) + x14 - 35309556) | 0;
  b = (c + ((t << 23) | (t >>> 9))) | 0;
  t = (a + (b ^ c ^ d) + x1 - 1530992060) | 0;
  a = (b + ((t << 4) | (t >>> 28))) | 0;
  t = (d + (a ^ b ^ c) + x4 + 1272893353) | 0;
  d = (a + ((t << 11) | (t >>> 21))) | 0;
  t = (c + (d ^ a ^ b) + x7 - 155497632) | 0;
  c = (d + ((t << 16) | (t >>> 16))) | 0;
  t = (b + (c ^ d ^ a) + x10 - 1094730640) | 0;
  b = (c + ((t << 23) | (t >>> 9))) | 0;
  t = (a + (b ^ c ^ d) + x13 + 681279174) | 0;
  a = (b + ((t << 4) | (t >>> 28))) | 0;
  t = (d + (a ^ b ^ c) + x0 - 358537222) | 0;
  d = (a + ((t << 11) | (t >>> 21))) | 0;
  t = (c + (d ^ a ^ b) + x3 - 722521979) | 0;
  c = (d + ((t << 16) | (t >>> 16))) | 0;
  t = (b + (c ^ d ^ a) + x6 + 76029189) | 0;
  b = (c + ((t << 23) | (t >>> 9))) | 0;
  t = (a + (b ^ c ^ d) + x9 - 640364487) | 0;
  a = (b + ((t << 4) | (t >>> 28))) | 0;
  t = (d + (a ^ b ^ c) + x12 - 421815835) | 0;
  d = (a + ((t << 11) | (t >>> 21))) | 0;
  t = (c + (d ^ a ^ b) + x15 + 530742520) | 0;
  c = (d + ((t << 16) | (t >>> 16))) | 0;
  t = (b + (c ^ d ^ a) + x2 - 995338651) | 0;
  b = (c + ((t << 23) | (t >>> 9))) | 0;
  t = (a + (c ^ (b | ~d)) + x0 - 198630844) | 0;
  a = (b + ((t << 6) | (t >>> 26))) | 0;
  t = (d + (b ^ (a | ~c)) + x7 + 1126891415) | 0;
  d = (a + ((t << 10) | (t >>> 22))) | 0;
  t = (c + (a ^ (d | ~b)) + x14 - 1416354905) | 0;
  c = (d + ((t << 15) | (t >>> 17))) | 0;
  t = (b + (d ^ (c | ~a)) + x5 - 57434055) | 0;
  b = (c + ((t << 21) | (t >>> 11))) | 0;
  t = (a + (c ^ (b | ~d)) + x12 + 1700485571) | 0;
  a = (b + ((t << 6) | (t >>> 26))) | 0;
  t = (d + (b ^ (a | ~c)) + x3 - 1894986606) | 0;
  d = (a + ((t << 10) | (t >>> 22))) | 0;
  t = (c + (a ^ (d | ~b)) + x10 - 1051523) | 0;
  c = (d + ((t << 15) | (t >>> 17))) | 0;
  t = (b + (d ^ (c | ~a)) + x1 - 2054922799) | 0;
  b = (c + ((t << 21) | (t >>> 11))) | 0;
  t = (a + (c ^ (b | ~d)) + x8 + 1873313359) | 0;
  a = (b + ((t << 6) | (t >>> 26))) | 0;
  t = (d + (b ^ (a | ~c)) + x15 - 30611744) | 0;
  d = (a + ((t << 10) | (t >>> 22))) | 0;
  t = (c + (a ^ (d | ~b)) + x6 - 1560198380) | 0;
  c = (d + ((t << 15) | (t >>> 17))) | 0;
  t = (b + (d ^ (c | ~a)) + x13 + 1309151649) | 0;
  b = (c + ((t << 21) | (t >>> 11))) | 0;
  t = (a + (c ^ (b | ~d)) + x4 - 145523070) | 0;
  a = (b + ((t << 6) | (t >>> 26))) | 0;
  t = (d + (b ^ (a | ~c)) + x11 - 1120210379) | 0;
  d = (a + ((t << 10) | (t >>> 22))) | 0;
  t = (c + (a ^ (d | ~b)) + x2 + 718787259) | 0;
  c = (d + ((t << 15) | (t >>> 17))) | 0;
  t = (b + (d ^ (c | ~a)) + x9 - 343485551) | 0;
  b = (c + ((t << 21) | (t >>> 11))) | 0;
  STATE[0] = (STATE[0]! + a) | 0;
  STATE[1] = (STATE[1]! + b) | 0;
  STATE[2] = (STATE[2]! + c) | 0;
  STATE[3] = (STATE[3]! + d) | 0;
}
