/**
 * The passwd-file backend: users from a Dovecot-style file, reloaded when the
 * file changes. A reload that fails keeps the last good contents, so a
 * half-written or deleted file never locks everybody out.
 */
import { closeSync, fstatSync, openSync, readFileSync, stat, type Stats } from 'node:fs';
import type { Logger } from 'pino';
import { onlyPassword, type Backend, type LookupQuery, type LookupResult, type StoredSample } from './backend.js';
import { parsePasswdFile, type PasswdFileEntries } from './passwd-file-format.js';
import { DaemonError, ErrorCodes, systemErrorText } from '../errors.js';

/** How often the file is checked for changes. Polling the path survives editors that replace the file. */
const WATCH_INTERVAL_MS = 1000;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** What tells one version of the file from another. */
type FileIdentity = string;

function identityOf(stats: Stats): FileIdentity {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

function fileError(path: string, error: unknown): DaemonError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason = code === 'ENOTREG' ? 'not a regular file' : (systemErrorText(code) ?? (error as Error).message);
  return new DaemonError(ErrorCodes.PASSWD_FILE, `cannot read passwd-file ${path}: ${reason}`);
}

export class PasswdFileBackend implements Backend {
  readonly mechanism = 'passwd-file';
  readonly #path: string;
  readonly #log: Logger;
  #entries: PasswdFileEntries;
  /** The version of the file #entries came from. */
  #loaded: FileIdentity;
  /** The version (or error) last reported as broken, so a broken file is reported once, not every second. */
  #lastProblem: string | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** Reads the file now; a missing, unreadable or non-UTF-8 file is a start-up error. */
  constructor(path: string, log: Logger) {
    this.#path = path;
    this.#log = log;
    const { entries, identity } = this.#load();
    this.#entries = entries;
    this.#loaded = identity;
  }

  /** Start re-reading the file when it changes. */
  watch(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#check(), WATCH_INTERVAL_MS);
    this.#timer.unref();
  }

  async lookup(query: LookupQuery): Promise<LookupResult> {
    const { passwords, duplicates } = this.#entries;
    if (duplicates.has(query.user)) {
      return { status: 'misconfigured', code: ErrorCodes.AMBIGUOUS_USER, reason: 'user listed more than once in the passwd-file' };
    }
    const stored = passwords.get(query.user);
    if (stored === undefined) return { status: 'unknown' };
    if (stored === '') {
      return { status: 'refused', code: ErrorCodes.EMPTY_STORED_PASSWORD, reason: 'empty password field in the passwd-file' };
    }
    return { status: 'found', candidates: onlyPassword(stored) };
  }

  async sampleStoredValues(): Promise<StoredSample> {
    return { values: [...this.#entries.passwords.values()].filter((value) => value !== '') };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Compare the file on disk with the version we loaded (not with the previous poll, which could miss a change). */
  #check(): void {
    stat(this.#path, (error, stats) => {
      if (!this.#timer) return;
      if (error) {
        this.#report(`stat:${error.code}`, fileError(this.#path, error).message);
        return;
      }
      const identity = identityOf(stats);
      if (identity === this.#loaded || identity === this.#lastProblem) return;
      try {
        const loaded = this.#load();
        this.#entries = loaded.entries;
        this.#loaded = loaded.identity;
        this.#lastProblem = undefined;
        this.#log.info({ path: this.#path, users: loaded.entries.passwords.size }, 'passwd-file reloaded');
      } catch (reloadError) {
        this.#report(identity, (reloadError as Error).message);
      }
    });
  }

  #report(problem: string, reason: string): void {
    if (problem === this.#lastProblem) return;
    this.#lastProblem = problem;
    this.#log.error({ code: ErrorCodes.PASSWD_FILE, path: this.#path, reason }, 'passwd-file reload failed; keeping the last contents read');
  }

  /** Read the file and the identity of exactly the version read (fstat on the same descriptor). */
  #load(): { entries: PasswdFileEntries; identity: FileIdentity } {
    let bytes: Buffer;
    let identity: FileIdentity;
    try {
      const fd = openSync(this.#path, 'r');
      try {
        const stats = fstatSync(fd);
        if (!stats.isFile()) throw Object.assign(new Error('not a regular file'), { code: stats.isDirectory() ? 'EISDIR' : 'ENOTREG' });
        identity = identityOf(stats);
        bytes = readFileSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      throw fileError(this.#path, error);
    }
    let text: string;
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      throw new DaemonError(ErrorCodes.PASSWD_FILE, `passwd-file ${this.#path} is not valid UTF-8`);
    }
    const parsed = parsePasswdFile(text);
    for (const { line, problem } of parsed.problems) {
      this.#log.warn({ code: ErrorCodes.PASSWD_FILE, path: this.#path, line }, `passwd-file line ${line}: ${problem}`);
    }
    return { entries: parsed.entries, identity };
  }
}
