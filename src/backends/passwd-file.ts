/**
 * The passwd-file backend: users from a Dovecot-style file, reloaded when the
 * file changes. A reload that fails keeps the last good contents, so a
 * half-written or deleted file never locks everybody out.
 */
import { readFileSync, statSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from 'pino';
import type { Backend, LookupQuery, LookupResult } from './backend.js';
import { parsePasswdFile, type PasswdFileEntries } from './passwd-file-format.js';
import { DaemonError, ErrorCodes } from '../errors.js';

/** How often the file is checked for changes. Polling survives editors that replace the file. */
const WATCH_INTERVAL_MS = 1000;

const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file (ENOENT)',
  EACCES: 'permission denied (EACCES)',
  EISDIR: 'is a directory (EISDIR)',
};

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export class PasswdFileBackend implements Backend {
  readonly mechanism = 'passwd-file';
  readonly #path: string;
  readonly #log: Logger;
  #entries: PasswdFileEntries;
  #listener: ((current: Stats, previous: Stats) => void) | undefined;

  /** Reads the file now; a missing, unreadable or non-UTF-8 file is a start-up error. */
  constructor(path: string, log: Logger) {
    this.#path = path;
    this.#log = log;
    this.#entries = this.#load();
  }

  /** Start re-reading the file when it changes. */
  watch(): void {
    if (this.#listener) return;
    this.#listener = (current, previous) => this.#onChange(current, previous);
    watchFile(this.#path, { interval: WATCH_INTERVAL_MS, persistent: false }, this.#listener);
  }

  async lookup(query: LookupQuery): Promise<LookupResult> {
    const { passwords, duplicates } = this.#entries;
    if (duplicates.has(query.user)) {
      return { status: 'refused', code: ErrorCodes.AMBIGUOUS_USER, reason: 'user listed more than once in the passwd-file' };
    }
    const stored = passwords.get(query.user);
    if (stored === undefined) return { status: 'unknown' };
    if (stored === '') {
      return { status: 'refused', code: ErrorCodes.EMPTY_STORED_PASSWORD, reason: 'empty password field in the passwd-file' };
    }
    return { status: 'found', storedHash: stored };
  }

  async close(): Promise<void> {
    if (this.#listener) unwatchFile(this.#path, this.#listener);
    this.#listener = undefined;
  }

  #onChange(current: Stats, previous: Stats): void {
    if (current.nlink === 0 && current.mtimeMs === 0) {
      this.#log.error({ code: ErrorCodes.PASSWD_FILE, path: this.#path }, 'passwd-file disappeared; keeping the last contents read');
      return;
    }
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size && current.ino === previous.ino) return;
    try {
      this.#entries = this.#load();
      this.#log.info({ path: this.#path, users: this.#entries.passwords.size }, 'passwd-file reloaded');
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#log.error({ code: ErrorCodes.PASSWD_FILE, path: this.#path, reason: message }, 'passwd-file reload failed; keeping the last contents read');
    }
  }

  #load(): PasswdFileEntries {
    let bytes: Buffer;
    try {
      if (!statSync(this.#path).isFile()) throw new Error('not a regular file');
      bytes = readFileSync(this.#path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === undefined ? (error as Error).message : (FILE_ERRORS[code] ?? code);
      throw new DaemonError(ErrorCodes.PASSWD_FILE, `cannot read passwd-file ${this.#path}: ${reason}`);
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
    return parsed.entries;
  }
}
