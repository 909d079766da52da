/**
 * Lists of IP addresses and networks, and whether an address is in one:
 * --dovecot-trusted-peers (which TCP peers of the Dovecot-protocol listener
 * are believed about their clients' addresses) and a mailbox's allowed
 * networks (the postfixadmin preset's mailbox.allowed_networks).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** An address or network: "192.0.2.10", "2001:db8::/32"; undefined when it is neither. */
export function parseNetworkEntry(entry: string): { readonly address: string; readonly prefix?: number; readonly family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, extra] = entry.trim().split('/');
  if (extra !== undefined) return undefined;
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family === undefined) return undefined;
  if (prefixText === undefined) return { address, family };
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= (family === 'ipv4' ? 32 : 128))) return undefined;
  return { address, prefix, family };
}

/** Whether an address is in the list (IPv4 written as IPv6, as a dual-stack socket shows it, is the IPv4 address). Throws for an entry parseNetworkEntry refuses. */
export function inNetworks(entries: readonly string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const parsed = parseNetworkEntry(entry);
    if (!parsed) throw new Error(`not an address or network: ${entry}`);
    if (parsed.prefix === undefined) list.addAddress(parsed.address, parsed.family);
    else list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return (address) => {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return list.check(mapped[1]!, 'ipv4');
    return isIPv6(address) ? list.check(address, 'ipv6') : isIPv4(address) && list.check(address, 'ipv4');
  };
}
