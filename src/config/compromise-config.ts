/**
 * --compromise-*: the compromised-account signal's settings, checked
 * together (src/auth/compromise-watch.ts): how many networks in what window
 * raise it, how addresses are grouped into networks, and how long sending
 * logins are refused after it.
 */
import { ConfigError } from '../errors.js';
import type { CompromiseSettings } from '../auth/compromise-watch.js';
import type { OptionReader } from './option-reader.js';

export function resolveCompromise(read: OptionReader): { compromise?: CompromiseSettings } {
  const networksSource = read.text('compromiseNetworks');
  const networks = read.number('compromiseNetworks');
  const windowMs = read.number('compromiseWindow') * 1000;
  const ipv4PrefixBits = read.number('compromiseIpv4Prefix');
  const ipv6PrefixBits = read.number('compromiseIpv6Prefix');
  const blockMs = read.number('compromiseBlock') * 1000;
  if (networks === 1) throw new ConfigError(networksSource!.key, 'one network is every login: give 2 or more, or 0 to turn the signal off');
  if (networks === 0) {
    const stray = read.text('compromiseBlock');
    if (stray && blockMs > 0) throw new ConfigError(stray.key, 'blocks accounts the signal names, but --compromise-networks 0 turns the signal off: remove one of them');
    return {};
  }
  return { compromise: { networks, windowMs, ipv4PrefixBits, ipv6PrefixBits, blockMs } };
}
