/**
 * Shell recipes from the docs, as the tests run them: each command of a
 * page's ```sh blocks on one line (backslash continuations joined).
 */
import { readFileSync } from 'node:fs';

/** The commands of docs/<page> that start with `journalctl` and pipe into jq. */
export function journalJqRecipes(page = 'operations.md'): string[] {
  const text = readFileSync(new URL(`../../docs/${page}`, import.meta.url), 'utf8');
  const commands = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((block) => block[1]!.replace(/\\\n\s*/g, ' ').split('\n'));
  return commands.filter((line) => line.startsWith('journalctl') && line.includes('| jq')).map((line) => line.replace(/\s+#.*$/, ''));
}
