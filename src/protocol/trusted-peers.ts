/**
 * Which TCP peers of the Dovecot-protocol listener are believed about their
 * clients' addresses (rip): the ones listed in --dovecot-trusted-peers, by
 * address or network. Anyone who can connect could claim any address, and an
 * address grants things (a TOTP exception, an owner address's own count).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** An address or network as the option takes it: "192.0.2.10", "2001:db8::/32"; undefined when it is neither. */
export function parsePeerEntry(entry: string): { readonly address: string; readonly prefix?: number; readonly family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, extra] = entry.trim().split('/');
  if (extra !== undefined) return undefined;
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) return undefined;
  if (prefixText === undefined) return { address, family };
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= (family === 'ipv4' ? 32 : 128))) return undefined;
  return { address, prefix, family };
}

/** Whether a peer's address is one the list trusts (IPv4 written as IPv6, as a dual-stack socket shows it, is the IPv4 address). */
export function trustedPeers(entries: readonly string[]): (peerAddress: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const parsed = parsePeerEntry(entry);
    if (!parsed) throw new Error(`not an address or network: ${entry}`);
    if (parsed.prefix === undefined) list.addAddress(parsed.address, parsed.family);
    else list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return (peerAddress) => {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(peerAddress);
    if (mapped) return list.check(mapped[1]!, 'ipv4');
    return isIPv6(peerAddress) ? list.check(peerAddress, 'ipv6') : isIPv4(peerAddress) && list.check(peerAddress, 'ipv4');
  };
}
