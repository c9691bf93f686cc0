import { statSync } from 'node:fs';
import { fileErrorText, usageError } from '../lib/errors.ts';
import { credentialProblem, parseCredential, parseUsers, readStoredPassword, UsersFileError, type StoredPassword } from '../lib/server/auth.ts';
import { listOption, stringOption } from './options.ts';
import { printWarning } from './output.ts';
import { readSettingsFile } from './settings-files.ts';

/** Every source of users for serve, later ones overriding earlier ones by name: the users file (`--users`,
 * `users-file:`), the config file's `users:` map, `SOCX_AUTH`, then `--auth`. */
export function loadUsers(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Map<string, StoredPassword> {
  const users = new Map<string, StoredPassword>();
  const usersFile = stringOption(raw.users, 'users');
  if (usersFile !== undefined) for (const [name, stored] of readUsersFile(usersFile)) users.set(name, stored);
  const inline = raw.inlineUsers as Readonly<Record<string, string>> | undefined;
  for (const [name, text] of Object.entries(inline ?? {})) {
    const problem = credentialProblem(name, text);
    const stored = problem === undefined ? readStoredPassword(text) : new Error(problem);
    if (stored instanceof Error) throw usageError(`users: ${name}: ${stored.message}`);
    users.set(name, stored);
  }
  // Empty is unset, as for the proxy variables (SOCX_AUTH= in a unit file or `env SOCX_AUTH= socx serve`).
  const fromEnv = env.SOCX_AUTH ? [['SOCX_AUTH', env.SOCX_AUTH] as const] : [];
  const fromFlags = listOption(raw.auth, 'auth').map((entry) => ['--auth', entry] as const);
  for (const [source, entry] of [...fromEnv, ...fromFlags]) {
    const credential = parseCredential(entry);
    if (!credential) throw usageError(`${source} must be user:password, each 1-255 bytes (RFC 1929)`);
    users.set(credential.username, credential.password);
  }
  // Else the server would start with no login at all: an open proxy where logins were asked for.
  if (usersFile !== undefined && users.size === 0) throw usageError(`users file ${usersFile} has no users, and no other users are given (one user:password a line; socx hash-password makes hashed ones)`);
  return users;
}

function readUsersFile(path: string): Map<string, StoredPassword> {
  let text: string;
  try {
    text = readSettingsFile(path);
  } catch (error) {
    throw usageError(`cannot read users file ${path}: ${fileErrorText(error)}`);
  }
  warnIfShared(path, 'users file');
  try {
    return parseUsers(text);
  } catch (error) {
    if (error instanceof UsersFileError) throw usageError(`users file ${path}, line ${error.line}: ${error.message}`);
    throw error;
  }
}

/** A file holding passwords (or hashes, which can be attacked offline) should be readable by its owner only. */
export function warnIfShared(path: string, what: string): void {
  const mode = statSync(path).mode;
  if ((mode & 0o044) !== 0) printWarning(`${what} ${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path}`);
}

/** `ps` shows a process's original argv (/proc/PID/cmdline); setting process.title rewrites that memory on
 * Linux (libuv reuses the argv area, so the title must not be longer than the original command line: it
 * starts with a plain "socx"). `--auth alice:secret` then reads `--auth alice:***`. Other platforms may keep
 * the original: --users, the config file or SOCX_AUTH are the safe ways there. */
export function hideAuthFromPs(args: readonly string[] = process.argv.slice(2)): void {
  let hidden = false;
  const shown = args.map((arg, index) => {
    const inline = arg.startsWith('--auth=');
    const value = inline ? arg.slice('--auth='.length) : args[index - 1] === '--auth' ? arg : undefined;
    if (value === undefined) return arg;
    hidden = true;
    const masked = maskCredential(value);
    return inline ? `--auth=${masked}` : masked;
  });
  if (hidden) process.title = ['socx', ...shown].join(' ');
}

/** `user:password` with the password masked: `user:***`. */
export function maskCredential(credential: string): string {
  return `${credential.split(':')[0] ?? ''}:***`;
}
