/**
 * Runs in a worker thread of the verification pool: one verification
 * per task. The password arrives as a copy and is wiped after.
 */
import { verifyPooled, type PooledScheme } from './schemes/pooled.js';
import { parseShaCrypt } from './schemes/sha-crypt.js';
import { canCheckNatively, loadNativeCrypt } from './native-crypt.js';

export interface PoolTask {
  readonly scheme: PooledScheme;
  readonly password: Uint8Array;
  readonly stored: string;
  /** The daemon runs with the native addon: sha-crypt goes to libxcrypt on this thread. */
  readonly native?: boolean;
}

export default async function verifyTask(task: PoolTask): Promise<boolean> {
  const password = Buffer.from(task.password.buffer, task.password.byteOffset, task.password.byteLength);
  try {
    if (task.native && task.scheme === 'sha-crypt') {
      // 3 to 4 times faster than the JavaScript; anything libxcrypt cannot take stays with the JavaScript.
      const verdict = verifyShaCryptNatively(password, task.stored);
      if (verdict !== null) return verdict;
    }
    return await verifyPooled(task.scheme, password, task.stored);
  } finally {
    password.fill(0);
  }
}

function verifyShaCryptNatively(password: Buffer, stored: string): boolean | null {
  if (parseShaCrypt(stored) === undefined || !canCheckNatively(password, stored)) return null;
  const native = loadNativeCrypt();
  return native.loaded ? native.binding.verifySync(password, stored) : null;
}
