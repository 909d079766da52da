/**
 * What the current test made and must undo (temporary directories, daemons,
 * child processes). Helpers register here instead of installing their own
 * hooks when imported; test/setup.ts runs the list after each test, newest
 * first, so a daemon stops before its directory is removed.
 */
const pending: Array<() => unknown> = [];

export function afterThisTest(undo: () => unknown): void {
  pending.push(undo);
}

export async function runCleanups(): Promise<void> {
  const errors: unknown[] = [];
  for (const undo of pending.splice(0).reverse()) {
    try {
      await undo();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'cleanup after the test failed');
}
