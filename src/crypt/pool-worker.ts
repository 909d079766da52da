/**
 * Runs in a worker thread of the verification pool: one verification
 * per task. The password arrives as a copy and is wiped after.
 */
import { generateCryptString, verifyCryptTask, type CryptTask, type GeneratedCryptScheme, type GenerateOptions } from './schemes/crypt-strings.js';
import { canCheckNatively, loadNativeCrypt } from './native-crypt.js';

export interface PoolTask {
  /** The stored value, parsed by the verifier before it was sent. */
  readonly task: CryptTask;
  readonly password: Uint8Array;
  /** The daemon runs with the native addon: sha-crypt goes to libxcrypt on this thread. */
  readonly native?: boolean;
}

export default async function verifyTask({ task, password: bytes, native }: PoolTask): Promise<boolean> {
  const password = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    if (native && task.kind === 'sha-crypt') {
      // Several times faster than the JavaScript; anything libxcrypt cannot take stays with the JavaScript.
      const verdict = verifyShaCryptNatively(password, task.stored);
      if (verdict !== null) return verdict;
    }
    return await verifyCryptTask(password, task);
  } finally {
    password.fill(0);
  }
}

function verifyShaCryptNatively(password: Buffer, stored: string): boolean | null {
  if (!canCheckNatively(password, stored)) return null;
  const native = loadNativeCrypt();
  return native.loaded ? native.binding.verifySync(password, stored) : null;
}

export interface GenerateTask {
  readonly scheme: GeneratedCryptScheme;
  readonly options: GenerateOptions;
  readonly password: Uint8Array;
}

/** A new stored value (re-hashing on login): as slow as a check, so off the event loop too. */
export async function generate({ scheme, options, password: bytes }: GenerateTask): Promise<string> {
  const password = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    return await generateCryptString(scheme, password, options);
  } finally {
    password.fill(0);
  }
}
