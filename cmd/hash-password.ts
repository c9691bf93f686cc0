import { buffer } from 'node:stream/consumers';
import type { CAC } from 'cac';
import { SocxError, usageError } from '../lib/errors.ts';
import { credentialProblem, hashPassword, usersFileNameProblem } from '../lib/server/auth.ts';
import { safeText } from '../lib/safe-text.ts';

/** `socx hash-password [user]`: a $scrypt$ entry for a users file or the config's `users:` map, with the
 * password read from the terminal (not echoed, asked twice) or from stdin, never from argv or history. */
export function registerHashPassword(cli: CAC): void {
  cli
    .command('hash-password [user]', 'Print a scrypt hash of a password for a users file (with USER: a whole user:hash line); reads the password from the terminal without echo, or from stdin')
    .example('socx hash-password alice >> users.txt')
    .example("printf '%s\\n' \"$PASS\" | socx hash-password alice")
    .action(async (user: string | undefined) => {
      // Before the password is asked for: the line printed must read back as this user.
      const unfit = user === undefined ? undefined : usersFileNameProblem(user);
      if (user !== undefined && unfit !== undefined) throw usageError(`user name "${safeText(user)}" cannot go in a users file: ${unfit}`);
      const password = process.stdin.isTTY ? await askTwice() : firstLine(await buffer(process.stdin));
      const problem = credentialProblem(user ?? 'x', password);
      if (problem) throw usageError(`cannot hash: ${problem}`);
      const hash = String(await hashPassword(password));
      process.stdout.write(user === undefined ? `${hash}\n` : `${user}:${hash}\n`);
      return 0;
    });
}

/** The first line of stdin, without its line ending: `echo secret |` and a file with one line both work. */
function firstLine(input: Buffer): string {
  const text = input.toString('utf8');
  const end = text.search(/\r?\n/);
  return end < 0 ? text : text.slice(0, end);
}

async function askTwice(): Promise<string> {
  const first = await askHidden('password: ');
  const again = await askHidden('again: ');
  if (first !== again) throw usageError('the two passwords differ');
  return first;
}

/** Reads one line from the terminal in raw mode, so nothing is echoed; the prompt goes to stderr. */
function askHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Echo goes off before the prompt appears, so that nothing typed (or pasted) right after it is shown.
  stdin.setRawMode(true);
  stdin.resume();
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003' || char === '\u0004') return finish(new SocxError('aborted', 'cancelled'));
        if (char === '\u007f' || char === '\b') typed = [...typed].slice(0, -1).join('');
        else if (char >= ' ') typed += char;
      }
    };
    stdin.on('data', onData);
  });
}
