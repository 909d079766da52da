/**
 * A password for an admin command, from a prompt with echo off (on a
 * terminal) or from standard input (a pipe): never from the command line,
 * where every user on the host can read it in the process list.
 */
import type { ReadStream } from 'node:tty';

/** More than anyone types; a pipe that sends more is a mistake, not a password. */
const MAX_PASSWORD_BYTES = 4096;

export class PasswordInputError extends Error {}

/** Piped input: everything up to EOF, minus one trailing newline (as echo and most tools add). */
async function readPiped(input: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk);
    length += bytes.length;
    if (length > MAX_PASSWORD_BYTES + 2) throw new PasswordInputError(`standard input holds more than ${MAX_PASSWORD_BYTES} bytes: not a password`);
    chunks.push(bytes);
  }
  let all = Buffer.concat(chunks);
  if (all.at(-1) === 0x0a) all = all.subarray(0, all.at(-2) === 0x0d ? -2 : -1);
  return all;
}

/** One line typed at a terminal, not echoed. Ctrl-C and Ctrl-D abort. */
function readHidden(input: ReadStream, prompt: string, output: NodeJS.WritableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Echo off before the prompt shows: whatever is typed after seeing it is never echoed.
    input.setRawMode(true);
    output.write(prompt);
    input.resume();
    let typed = Buffer.alloc(0);
    const finish = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      output.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const byte of chunk) {
        if (byte === 0x0d || byte === 0x0a) return finish();
        if (byte === 0x03 || byte === 0x04) return finish(new PasswordInputError('cancelled'));
        if (byte === 0x7f || byte === 0x08) typed = typed.subarray(0, Math.max(0, typed.length - 1));
        else typed = Buffer.concat([typed, Buffer.of(byte)]);
        if (typed.length > MAX_PASSWORD_BYTES) return finish(new PasswordInputError(`longer than ${MAX_PASSWORD_BYTES} bytes`));
      }
    };
    input.on('data', onData);
  });
}

export async function readNewPassword(input: NodeJS.ReadStream = process.stdin, prompts: NodeJS.WritableStream = process.stderr): Promise<Buffer> {
  let password: Buffer;
  if (input.isTTY) {
    const tty = input;
    password = await readHidden(tty, 'Password: ', prompts);
    const again = await readHidden(tty, 'Again: ', prompts);
    const same = again.equals(password);
    again.fill(0);
    if (!same) {
      password.fill(0);
      throw new PasswordInputError('the two passwords differ');
    }
  } else {
    password = await readPiped(input);
  }
  if (password.length === 0) throw new PasswordInputError('empty password');
  return password;
}
