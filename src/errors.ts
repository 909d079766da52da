/**
 * How a code is answered, and who has to act:
 *   protocol    what a peer sent is not a request; answered as saslauthd would, or not at all
 *   credential  a definite "no" for this login: what the user got wrong, or an
 *               account that is off (NO, Postfix 535)
 *   temporary   we could not decide, or the configuration (or a stored value) is
 *               wrong: never the user's fault, so never a "no"; no reply, the
 *               client retries (Postfix 454), and the log says what to fix
 *   start-up    the daemon does not start, or a reload is refused; the running setup is kept
 * docs/errors.md has one row per code, and a test keeps the two in step.
 */
export type ErrorCategory = 'protocol' | 'credential' | 'temporary' | 'start-up';

const CATALOGUE = {
  FIELD_TOO_LONG: ['ERR_FIELD_TOO_LONG', 'protocol'],
  NULL_LOGIN: ['ERR_NULL_LOGIN', 'protocol'],
  NULL_PASSWORD: ['ERR_NULL_PASSWORD', 'protocol'],
  TRUNCATED_REQUEST: ['ERR_TRUNCATED_REQUEST', 'protocol'],
  READ_TIMEOUT: ['ERR_READ_TIMEOUT', 'protocol'],
  POLICY_UNAUTHORIZED: ['ERR_POLICY_UNAUTHORIZED', 'protocol'],
  POLICY_MALFORMED: ['ERR_POLICY_MALFORMED', 'protocol'],
  UNKNOWN_USER: ['ERR_UNKNOWN_USER', 'credential'],
  WRONG_PASSWORD: ['ERR_WRONG_PASSWORD', 'credential'],
  INVALID_LOGIN: ['ERR_INVALID_LOGIN', 'credential'],
  INVALID_SERVICE: ['ERR_INVALID_SERVICE', 'credential'],
  EMPTY_STORED_PASSWORD: ['ERR_EMPTY_STORED_PASSWORD', 'credential'],
  ACCOUNT_LOCKED: ['ERR_ACCOUNT_LOCKED', 'credential'],
  ACCOUNT_EXPIRED: ['ERR_ACCOUNT_EXPIRED', 'credential'],
  PASSWORD_EXPIRED: ['ERR_PASSWORD_EXPIRED', 'credential'],
  PAM_NO_SERVICE: ['ERR_PAM_NO_SERVICE', 'credential'],
  MAILBOX_INACTIVE: ['ERR_MAILBOX_INACTIVE', 'credential'],
  DOMAIN_INACTIVE: ['ERR_DOMAIN_INACTIVE', 'credential'],
  SMTP_DISABLED: ['ERR_SMTP_DISABLED', 'credential'],
  TOTP_REQUIRED: ['ERR_TOTP_REQUIRED', 'credential'],
  SERVICE_NOT_ALLOWED: ['ERR_SERVICE_NOT_ALLOWED', 'credential'],
  NETWORK_NOT_ALLOWED: ['ERR_NETWORK_NOT_ALLOWED', 'credential'],
  COMPROMISE_BLOCKED: ['ERR_COMPROMISE_BLOCKED', 'credential'],
  INVALID_TOKEN: ['ERR_INVALID_TOKEN', 'credential'],
  TOKEN_SCOPE: ['ERR_TOKEN_SCOPE', 'credential'],
  TOKEN_OTHER_USER: ['ERR_TOKEN_OTHER_USER', 'credential'],
  BACKEND_UNAVAILABLE: ['ERR_BACKEND_UNAVAILABLE', 'temporary'],
  TOKEN_PROVIDER_UNAVAILABLE: ['ERR_TOKEN_PROVIDER_UNAVAILABLE', 'temporary'],
  BACKEND_LOGIN: ['ERR_BACKEND_LOGIN', 'temporary'],
  BACKEND_QUERY: ['ERR_BACKEND_QUERY', 'temporary'],
  BACKEND_BUSY: ['ERR_BACKEND_BUSY', 'temporary'],
  PAM_CONFIG: ['ERR_PAM_CONFIG', 'temporary'],
  AMBIGUOUS_USER: ['ERR_AMBIGUOUS_USER', 'temporary'],
  TOO_MANY_CANDIDATES: ['ERR_TOO_MANY_CANDIDATES', 'temporary'],
  PRESET_SCHEMA: ['ERR_PRESET_SCHEMA', 'temporary'],
  UNSUPPORTED_SCHEME: ['ERR_UNSUPPORTED_SCHEME', 'temporary'],
  MALFORMED_STORED_VALUE: ['ERR_MALFORMED_STORED_VALUE', 'temporary'],
  COST_CEILING: ['ERR_COST_CEILING', 'temporary'],
  AUTH_TIMEOUT: ['ERR_AUTH_TIMEOUT', 'temporary'],
  VERIFY_OVERLOADED: ['ERR_VERIFY_OVERLOADED', 'temporary'],
  ABANDONED: ['ERR_ABANDONED', 'temporary'],
  THROTTLE_BUSY: ['ERR_THROTTLE_BUSY', 'temporary'],
  INTERNAL: ['ERR_INTERNAL', 'temporary'],
  CONFIG: ['ERR_CONFIG', 'start-up'],
  SOCKET_IN_USE: ['ERR_SOCKET_IN_USE', 'start-up'],
  SOCKET_PATH: ['ERR_SOCKET_PATH', 'start-up'],
  SOCKET_PERMISSION: ['ERR_SOCKET_PERMISSION', 'start-up'],
  PASSWD_FILE: ['ERR_PASSWD_FILE', 'start-up'],
  SERVICE_MANAGER: ['ERR_SERVICE_MANAGER', 'start-up'],
  SHUTTING_DOWN: ['ERR_SHUTTING_DOWN', 'start-up'],
} as const satisfies Record<string, readonly [`ERR_${string}`, ErrorCategory]>;

type Catalogue = typeof CATALOGUE;

/**
 * One place for every error and refusal reason the daemon can produce, each
 * with a stable code. Tests and log consumers match on codes, never on the
 * human text, so the text can improve without breaking anyone.
 */
export const ErrorCodes = Object.freeze(Object.fromEntries(Object.entries(CATALOGUE).map(([name, [code]]) => [name, code]))) as {
  readonly [K in keyof Catalogue]: Catalogue[K][0];
};

/** Every code with its category. */
export const ERROR_CATEGORIES: ReadonlyMap<ErrorCode, ErrorCategory> = new Map(Object.values(CATALOGUE).map(([code, category]) => [code, category]));

export type ErrorCode = Catalogue[keyof Catalogue][0];

/** An error that carries a stable code. Messages must never contain secrets. */
export class DaemonError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DaemonError';
    this.code = code;
  }
}

/**
 * A value that does not parse is not repeated in the message: the usual reason
 * a value is wrong is that it was put on the wrong line, and a password put on
 * the wrong line must not end up in a log or on a terminal.
 */
export const NOT_REPEATED = 'the value is not repeated here, in case it is a secret given to the wrong setting';

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
