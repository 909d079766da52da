/**
 * One place for every error and refusal reason the daemon can produce, each
 * with a stable code. Tests and log consumers match on codes, never on the
 * human text, so the text can improve without breaking anyone.
 */
export const ErrorCodes = {
  // Protocol: what a peer sent could not be accepted as a request.
  FIELD_TOO_LONG: 'ERR_FIELD_TOO_LONG',
  NULL_LOGIN: 'ERR_NULL_LOGIN',
  NULL_PASSWORD: 'ERR_NULL_PASSWORD',
  TRUNCATED_REQUEST: 'ERR_TRUNCATED_REQUEST',
  READ_TIMEOUT: 'ERR_READ_TIMEOUT',
  // Credentials: a definite "no" for this login.
  UNKNOWN_USER: 'ERR_UNKNOWN_USER',
  WRONG_PASSWORD: 'ERR_WRONG_PASSWORD',
  INVALID_LOGIN: 'ERR_INVALID_LOGIN',
  INVALID_SERVICE: 'ERR_INVALID_SERVICE',
  AMBIGUOUS_USER: 'ERR_AMBIGUOUS_USER',
  EMPTY_STORED_PASSWORD: 'ERR_EMPTY_STORED_PASSWORD',
  UNSUPPORTED_SCHEME: 'ERR_UNSUPPORTED_SCHEME',
  ACCOUNT_EXPIRED: 'ERR_ACCOUNT_EXPIRED',
  PASSWORD_EXPIRED: 'ERR_PASSWORD_EXPIRED',
  PAM_CONFIG: 'ERR_PAM_CONFIG',
  // Temporary: we could not decide; the client must be told to retry later.
  BACKEND_UNAVAILABLE: 'ERR_BACKEND_UNAVAILABLE',
  BACKEND_QUERY: 'ERR_BACKEND_QUERY',
  AUTH_TIMEOUT: 'ERR_AUTH_TIMEOUT',
  VERIFY_OVERLOADED: 'ERR_VERIFY_OVERLOADED',
  ABANDONED: 'ERR_ABANDONED',
  INTERNAL: 'ERR_INTERNAL',
  // Start-up and configuration.
  CONFIG: 'ERR_CONFIG',
  SOCKET_IN_USE: 'ERR_SOCKET_IN_USE',
  SOCKET_PATH: 'ERR_SOCKET_PATH',
  PASSWD_FILE: 'ERR_PASSWD_FILE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** An error that carries a stable code. Messages must never contain secrets. */
export class DaemonError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DaemonError';
    this.code = code;
  }
}

/** Bad configuration: names the offending setting so the administrator can fix it. */
export class ConfigError extends DaemonError {
  readonly key: string;

  constructor(key: string, message: string) {
    super(ErrorCodes.CONFIG, `${key}: ${message}`);
    this.name = 'ConfigError';
    this.key = key;
  }
}

/** Another daemon already answers on the socket we were told to use. */
export class SocketInUseError extends DaemonError {
  constructor(socketPath: string) {
    super(
      ErrorCodes.SOCKET_IN_USE,
      `another daemon is already answering on ${socketPath}; stop it first (or pick another -m directory)`,
    );
    this.name = 'SocketInUseError';
  }
}

/** Error facts safe to log: no stack arguments, no request data. */
export function describeError(error: unknown): { code?: string; message: string } {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === undefined ? { message: error.message } : { code, message: error.message };
  }
  return { message: String(error) };
}

/** strerror()'s wording for the system errors an administrator meets here. */
const SYSTEM_ERROR_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  ENOTSOCK: 'Socket operation on non-socket',
};

/** The familiar text for an errno code, or the code itself when we have no text for it. */
export function systemErrorText(code: string | undefined): string | undefined {
  return code === undefined ? undefined : (SYSTEM_ERROR_TEXT[code] ?? code);
}
