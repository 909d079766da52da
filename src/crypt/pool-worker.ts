/**
 * Runs in a worker thread of the verification pool: one verification
 * per task. The password arrives as a copy and is wiped after.
 */
import { verifyPooled, type PooledScheme } from './schemes/pooled.js';

export interface PoolTask {
  readonly scheme: PooledScheme;
  readonly password: Uint8Array;
  readonly stored: string;
}

export default async function verifyTask(task: PoolTask): Promise<boolean> {
  const password = Buffer.from(task.password.buffer, task.password.byteOffset, task.password.byteLength);
  try {
    return await verifyPooled(task.scheme, password, task.stored);
  } finally {
    password.fill(0);
  }
}
