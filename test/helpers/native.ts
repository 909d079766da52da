/**
 * The native crypt addon, which the tests need built: a missing addon fails
 * them with the reason instead of letting them measure the fallback only.
 */
import { loadNativeCrypt, type NativeCrypt } from '../../src/crypt/native-crypt.js';

export function requireNativeCrypt(): NativeCrypt {
  const load = loadNativeCrypt();
  if (!load.loaded) throw new Error(`the native crypt addon is needed by the tests: ${load.reason}`);
  return load.binding;
}
