/**
 * Ways to deliver a frame: whole, one byte at a time, and split in two at
 * every offset. Every codec test runs all of them. (After node-redis's
 * RESP decoder tests.)
 */
export interface Delivery {
  readonly name: string;
  readonly chunks: Buffer[];
}

export function deliveries(frame: Buffer): Delivery[] {
  const out: Delivery[] = [{ name: 'whole', chunks: [frame] }];
  if (frame.length > 1) {
    out.push({ name: 'byte by byte', chunks: [...frame].map((byte) => Buffer.from([byte])) });
  }
  for (let split = 1; split < frame.length; split += 1) {
    out.push({ name: `split at ${split}`, chunks: [frame.subarray(0, split), frame.subarray(split)] });
  }
  return out;
}
