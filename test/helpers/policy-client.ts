/**
 * Dovecot's side of its auth policy protocol, for tests that cannot run a
 * Dovecot: the same requests its auth process posts (src/auth/auth-policy.c
 * in Dovecot 2.3): its default attributes, `tls` in both, `success` and
 * `policy_reject` in a report, the pwhash of nonce, user NUL, password.
 */
import { createHash } from 'node:crypto';

export interface PolicyLogin {
  readonly login: string;
  readonly password: string;
  readonly remote: string;
  readonly protocol?: string;
  readonly session?: string;
  /** As Dovecot 2.4 posts it: fail_type in both requests, empty in the allow. */
  readonly dovecot24?: boolean;
}

export interface PolicyClient {
  /** The allow's status and how long its answer took. */
  allow(login: PolicyLogin): Promise<{ readonly status: number; readonly msg?: string; readonly ms: number }>;
  /** `failType`: Dovecot 2.4's fail_type, in both requests (empty in the allow), as 2.4 sends it; absent, as 2.3. */
  report(login: PolicyLogin, success: boolean, policyReject?: boolean, failType?: string): Promise<number>;
  /** A raw request: the HTTP status and body. */
  post(path: string, body: string, headers?: Record<string, string>): Promise<{ readonly status: number; readonly body: string }>;
}

const NONCE = 'a-test-nonce';

/** Dovecot's pwhash with its default truncation (12 bits, as three hex digits after the right shift). */
export function policyHash(login: string, password: string, truncateBits = 12): string {
  const digest = createHash('sha256').update(NONCE).update(`${login}\u0000`).update(password).digest();
  // buffer_truncate_rshift_bits: keep the first N bits, right-aligned in the fewest bytes.
  const bytes = Math.ceil(truncateBits / 8);
  let value = 0n;
  for (const byte of digest.subarray(0, bytes)) value = (value << 8n) | BigInt(byte);
  value >>= BigInt(bytes * 8 - truncateBits);
  return value.toString(16).padStart(bytes * 2, '0');
}

export function policyClient(port: number, secret: string): PolicyClient {
  const base = `http://127.0.0.1:${port}/`;
  const attributes = (login: PolicyLogin) => ({
    device_id: '',
    login: login.login,
    protocol: login.protocol ?? 'imap',
    pwhash: policyHash(login.login, login.password),
    remote: login.remote,
    session_id: login.session ?? `s-${login.remote}-${login.password.length}`,
  });
  const post = async (path: string, body: string, headers: Record<string, string> = { 'X-API-Key': secret }) => {
    const response = await fetch(new URL(path, base), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: response.status, body: await response.text() };
  };
  return {
    post,
    async allow(login) {
      const started = performance.now();
      const { status, body } = await post('?command=allow', JSON.stringify({ ...attributes(login), ...(login.dovecot24 ? { fail_type: '' } : {}), tls: false }));
      if (status !== 200) throw new Error(`allow answered HTTP ${status}`);
      const answer = JSON.parse(body) as { status: number; msg?: string };
      return { ...answer, ms: performance.now() - started };
    },
    async report(login, success, policyReject = false, failType) {
      return (await post('?command=report', JSON.stringify({ ...attributes(login), ...(failType === undefined ? {} : { fail_type: failType }), success, policy_reject: policyReject, tls: false }))).status;
    },
  };
}
