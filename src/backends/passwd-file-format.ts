/**
 * Dovecot passwd-file format: "user:password[:uid:gid:gecos:home:shell:extra]".
 * Only the first two fields matter for authentication; "#" starts a comment.
 */

export interface PasswdFileEntries {
  /** user -> stored password, for users listed exactly once. */
  readonly passwords: ReadonlyMap<string, string>;
  /** Users listed more than once: refused, because we cannot know which line is meant. */
  readonly duplicates: ReadonlySet<string>;
}

export interface PasswdFileProblem {
  readonly line: number;
  readonly problem: string;
}

export interface ParsedPasswdFile {
  readonly entries: PasswdFileEntries;
  /** Lines that were skipped. Reported by number only: a line may hold a password. */
  readonly problems: readonly PasswdFileProblem[];
}

export function parsePasswdFile(text: string): ParsedPasswdFile {
  const passwords = new Map<string, string>();
  const duplicates = new Set<string>();
  const problems: PasswdFileProblem[] = [];

  const lines = text.split('\n');
  lines.forEach((rawLine, index) => {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const lineNumber = index + 1;
    const colon = line.indexOf(':');
    if (colon < 0) {
      problems.push({ line: lineNumber, problem: 'no ":" after the user name' });
      return;
    }
    const user = line.slice(0, colon);
    if (user === '') {
      problems.push({ line: lineNumber, problem: 'empty user name' });
      return;
    }
    const nextColon = line.indexOf(':', colon + 1);
    const password = nextColon < 0 ? line.slice(colon + 1) : line.slice(colon + 1, nextColon);
    if (duplicates.has(user)) return;
    if (passwords.has(user)) {
      passwords.delete(user);
      duplicates.add(user);
      problems.push({ line: lineNumber, problem: 'user listed more than once; refusing that user' });
      return;
    }
    passwords.set(user, password);
  });

  return { entries: { passwords, duplicates }, problems };
}
