/**
 * The oldest Node.js the daemon runs on, checked before anything else is
 * loaded: on an older one the failure would be an obscure error from deep
 * inside a module, not a line saying what to install. Imports nothing.
 */
export const MINIMUM_NODE = { major: 20, minor: 12 } as const;

/** What to tell the administrator when `version` (process.versions.node) is too old; undefined when it will do. */
export function nodeVersionProblem(version: string): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > MINIMUM_NODE.major || (major === MINIMUM_NODE.major && minor >= MINIMUM_NODE.minor)) return undefined;
  return (
    `saslauthd-mysql needs Node.js ${MINIMUM_NODE.major}.${MINIMUM_NODE.minor} or newer, and this is ${version}. ` +
    'Debian 12 ships Node.js 18: install Node.js 20 or 22 (Debian 13 has it; on Debian 12, NodeSource\'s packages: https://github.com/nodesource/distributions), then start it again.'
  );
}
