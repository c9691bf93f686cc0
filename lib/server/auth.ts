import { createHash, timingSafeEqual } from 'node:crypto';

/** Username → password. */
export type Users = ReadonlyMap<string, string>;

export class UsersFileError extends Error {
  override readonly name = 'UsersFileError';
  readonly line: number;
  constructor(line: number, message: string) {
    super(message);
    this.line = line;
  }
}

/** `user:password` pairs, one a line; `#` starts a comment line; the password is everything after the first
 * colon, so it may contain colons and spaces. */
export function parseUsers(text: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, index) => {
    // Only blank and comment lines are recognised by their trimmed form: a password may end in spaces.
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const credential = parseCredential(line);
    if (!credential) throw new UsersFileError(index + 1, 'expected user:password');
    users.set(credential.username, credential.password);
  });
  return users;
}

/** RFC 1929 §2 limits both fields to 1–255 bytes. */
export function parseCredential(text: string): { username: string; password: string } | undefined {
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const username = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (Buffer.byteLength(username) > 255 || Buffer.byteLength(password) > 255) return undefined;
  return { username, password };
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Compares in constant time: hashing first makes the lengths equal, so neither the password's length nor
 * the position of the first wrong byte shows in the timing. An unknown user costs the same as a wrong
 * password. */
export function verifyUser(users: Users, username: string, password: string): boolean {
  const expected = users.get(username);
  const matches = timingSafeEqual(digest(expected ?? '\0unknown user'), digest(password));
  return expected !== undefined && matches;
}

/** Checks RFC 1929 credentials for a client; may answer later (a slow hash), so it calls back. */
export type Authenticate = (username: string, password: string, client: { host: string; port: number }, done: (ok: boolean) => void) => void;

export function usersAuthenticator(users: Users): Authenticate {
  return (username, password, _client, done) => done(verifyUser(users, username, password));
}
