import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isIPv6 } from 'node:net';
import { addressGroup } from '../../src/protocol/ip-address.js';
import { fuzzParameters } from '../helpers/fuzz.js';

describe('addressGroup', () => {
  it.each([
    ['192.0.2.7', 64, '192.0.2.7'],
    ['::ffff:192.0.2.7', 64, '192.0.2.7'],
    ['::FFFF:192.0.2.7', 64, '192.0.2.7'],
    ['::ffff:c000:207', 64, '192.0.2.7'],
    ['0:0:0:0:0:ffff:192.0.2.7', 64, '192.0.2.7'],
    ['2001:db8:1:2::1', 64, '2001:db8:1:2::/64'],
    ['2001:DB8:1:2:aaaa:bbbb:cccc:dddd', 64, '2001:db8:1:2::/64'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', 48, '2001:db8:1::/48'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', 56, '2001:db8:1::/56'],
    ['2001:db8:1:2ff:aaaa::', 56, '2001:db8:1:200::/56'],
    ['2001:db8::1', 128, '2001:db8::1'],
    ['::1', 64, '::/64'],
    ['64:ff9b::192.0.2.7', 96, '64:ff9b::/96'],
    ['not an address', 64, 'not an address'],
    ['', 64, ''],
  ])('%s /%d -> %s', (address, bits, group) => {
    expect(addressGroup(address, bits)).toBe(group);
  });

  it('gives every address of one /64 the same key, and addresses of two /64s two keys', () => {
    const group = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });
    fc.assert(
      fc.property(group, group, (a, b) => {
        const text = (groups: number[]) => groups.map((g) => g.toString(16)).join(':');
        fc.pre(isIPv6(text(a)) && !(a.slice(0, 5).every((g) => g === 0) && a[5] === 0xffff) && !(b.slice(0, 5).every((g) => g === 0) && b[5] === 0xffff));
        const sameNetwork = [...a.slice(0, 4), ...b.slice(4)];
        expect(addressGroup(text(sameNetwork), 64)).toBe(addressGroup(text(a), 64));
        if (a.slice(0, 4).join() !== b.slice(0, 4).join()) expect(addressGroup(text(b), 64)).not.toBe(addressGroup(text(a), 64));
      }),
      fuzzParameters(500),
    );
  });
});
