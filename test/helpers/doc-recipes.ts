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

/**
 * The fenced blocks of one language under a heading of docs/<page> (up to the next heading
 * of the same or a higher level), in order: what a page tells an administrator to type or write.
 */
export function docBlocks(page: string, heading: string, language: string): string[] {
  const text = readFileSync(new URL(`../../docs/${page}`, import.meta.url), 'utf8');
  const lines = text.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`docs/${page} has no heading "${heading}"`);
  const level = /^#+/.exec(heading)![0].length;
  // A "# comment" inside a fenced block is no heading.
  let fenced = false;
  const end = lines.findIndex((line, i) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    return i > start && !fenced && /^#+ /.test(line) && /^#+/.exec(line)![0].length <= level;
  });
  const section = lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
  // Blocks may be indented (inside a list item): the fence's indentation is taken off every line.
  return [...section.matchAll(new RegExp(`^( *)\`\`\`${language}\\n([\\s\\S]*?)^\\1\`\`\``, 'gm'))].map((block) =>
    block[2]!.split('\n').map((line) => line.slice(block[1]!.length)).join('\n'),
  );
}
