/**
 * Client addresses as the throttle counts them. An IPv4 address is one
 * client. An IPv6 address is not: whoever holds a /64 (a home router, a
 * cloud instance) has 2^64 of them, and privacy addresses change by the
 * hour, so IPv6 addresses are counted by their network (a prefix, /64 by
 * default). IPv4 written as IPv6 (::ffff:192.0.2.1, as a dual-stack socket
 * shows it) is the IPv4 address. Anything that is not an address is left as
 * it was: a client may send anything, and that is its own key.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The eight 16-bit groups of an IPv6 address (isIPv6 said it is one). */
function groupsOf(address: string): number[] {
  let text = address.toLowerCase();
  let tail: number[] = [];
  // A dotted IPv4 part at the end is the last two groups.
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(2).map(Number) as [number, number, number, number];
    tail = [(a << 8) | b, (c << 8) | d];
    text = dotted[1]!.endsWith('::') ? dotted[1]! : dotted[1]!.slice(0, -1);
  }
  const halves = text.split('::');
  const hex = (part: string | undefined) => (part ? part.split(':').map((group) => Number.parseInt(group, 16)) : []);
  const front = hex(halves[0]);
  const back = hex(halves[1]);
  const zeros = halves.length > 1 ? 8 - tail.length - front.length - back.length : 0;
  return [...front, ...Array.from({ length: zeros }, () => 0), ...back, ...tail];
}

/** An IPv6 address of these groups, written as RFC 5952 says: lower case, the longest run of zero groups as "::". */
function formatGroups(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start += 1) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length += 1;
    if (length > bestLength) {
      bestStart = start;
      bestLength = length;
    }
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * The key an address is counted under: an IPv4 address itself (IPv4-mapped
 * IPv6 too), an IPv6 address's network of `ipv6PrefixBits` ("2001:db8:1:2::/64"),
 * anything else as it is.
 */
export function addressGroup(address: string, ipv6PrefixBits: number): string {
  if (isIPv4(address) || !isIPv6(address)) return address;
  const groups = groupsOf(address);
  // ::ffff:a.b.c.d, however it is written: the IPv4 client it is.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  const masked = groups.map((group, i) => {
    const bitsHere = Math.min(16, Math.max(0, ipv6PrefixBits - i * 16));
    return bitsHere === 0 ? 0 : group & ((0xffff << (16 - bitsHere)) & 0xffff);
  });
  return ipv6PrefixBits >= 128 ? formatGroups(masked) : `${formatGroups(masked)}/${ipv6PrefixBits}`;
}

/**
 * The network an address is in, for telling one client's networks apart: an
 * IPv4 address's network of `ipv4PrefixBits` ("192.0.2.0/24"; IPv4-mapped
 * IPv6 too), an IPv6 address's of `ipv6PrefixBits`; undefined for anything
 * that is not an address.
 */
export function networkOf(address: string, ipv4PrefixBits: number, ipv6PrefixBits: number): string | undefined {
  const grouped = addressGroup(address, ipv6PrefixBits);
  if (isIPv6(address) && !isIPv4(grouped)) return grouped;
  if (!isIPv4(grouped)) return undefined;
  const value = grouped.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
  const mask = ipv4PrefixBits === 0 ? 0 : (0xffffffff << (32 - ipv4PrefixBits)) >>> 0;
  const masked = (value & mask) >>> 0;
  return `${[24, 16, 8, 0].map((shift) => (masked >>> shift) & 0xff).join('.')}/${ipv4PrefixBits}`;
}
