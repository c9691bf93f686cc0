import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** How the server checks RFC 1929 credentials. `done` may be called later (scrypt runs off the main thread);
 * it is called exactly once. */
export type Authenticate = (username: string, password: string, client: { host: string; port: number }, done: (ok: boolean) => void) => void;

/** A stored password: the password itself, or its scrypt hash. */
export type StoredPassword = string | ScryptHash;

/** Username → stored password. */
export type Users = ReadonlyMap<string, StoredPassword>;

export class UsersFileError extends Error {
  override readonly name = 'UsersFileError';
  readonly line: number;
  constructor(line: number, message: string) {
    super(message);
    this.line = line;
  }
}

/**
 * scrypt (RFC 7914) from node:crypto: memory-hard like argon2, better than bcrypt against GPUs, and built into
 * Node, so the single executable needs no native addon (bcrypt and argon2 on npm are compiled addons, which a
 * SEA cannot embed). Stored as `$scrypt$ln=15,r=8,p=1$SALT$HASH` (unpadded base64, the PHC string format), so
 * the cost can be raised later without breaking old entries. N = 2^15, r = 8 is 32 MiB and tens of ms per
 * verification: costly for a guesser, and paid once per user and password thanks to the cache below.
 */
export class ScryptHash {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
  constructor(fields: { logN: number; r: number; p: number; salt: Buffer; hash: Buffer }) {
    this.logN = fields.logN;
    this.r = fields.r;
    this.p = fields.p;
    this.salt = fields.salt;
    this.hash = fields.hash;
  }

  toString(): string {
    const b64 = (bytes: Buffer): string => bytes.toString('base64').replace(/=+$/, '');
    return `$scrypt$ln=${this.logN},r=${this.r},p=${this.p}$${b64(this.salt)}$${b64(this.hash)}`;
  }
}

export const SCRYPT_PREFIX = '$scrypt$';
const DEFAULT_COST = { logN: 15, r: 8, p: 1 } as const;
/** scrypt needs 128·N·r bytes; the bounds keep a hand-edited entry from asking for gigabytes. */
const MAX_LOG_N = 20;
const MAX_MEMORY = 512 * 2 ** 20;
const scryptMemory = (logN: number, r: number): number => 128 * 2 ** logN * r * 2;

/** `$scrypt$ln=15,r=8,p=1$SALT$HASH`, or undefined when the text is not one. */
export function parseScryptHash(text: string): ScryptHash | undefined {
  const match = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{32,})$/.exec(text);
  if (!match) return undefined;
  const [logN, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (!(logN >= 10 && logN <= MAX_LOG_N && r >= 1 && r <= 32 && p >= 1 && p <= 16 && scryptMemory(logN, r) <= MAX_MEMORY)) return undefined;
  return new ScryptHash({ logN, r, p, salt: Buffer.from(match[4] ?? '', 'base64'), hash: Buffer.from(match[5] ?? '', 'base64') });
}

function deriveKey(password: string, salt: Buffer, cost: { logN: number; r: number; p: number }, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, { N: 2 ** cost.logN, r: cost.r, p: cost.p, maxmem: scryptMemory(cost.logN, cost.r) }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<ScryptHash> {
  const salt = randomBytes(16);
  return new ScryptHash({ ...DEFAULT_COST, salt, hash: await deriveKey(password, salt, DEFAULT_COST, 32) });
}

export async function verifyScrypt(stored: ScryptHash, password: string): Promise<boolean> {
  const key = await deriveKey(password, stored.salt, stored, stored.hash.length);
  return timingSafeEqual(key, stored.hash);
}

/** RFC 1929 §2: user name and password are each 1–255 bytes. The one check for --auth, SOCX_AUTH and the users
 * file (the client side has its own in lib/client/proxy-url.ts). */
export function credentialProblem(username: string, password: string): string | undefined {
  for (const [what, value] of [['user name', username], ['password', password]] as const) {
    const bytes = Buffer.byteLength(value);
    if (bytes === 0) return `empty ${what} (RFC 1929 needs 1-255 bytes)`;
    if (bytes > 255) return `${what} longer than 255 bytes (RFC 1929 allows 1-255)`;
  }
  return undefined;
}

/** `user:password`; the password is everything after the first colon, so it may contain colons and spaces. */
export function parseCredential(text: string): { username: string; password: string } | undefined {
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  const username = text.slice(0, colon);
  const password = text.slice(colon + 1);
  return credentialProblem(username, password) === undefined ? { username, password } : undefined;
}

/** A password as written in a users file or the config: a `$scrypt$…` hash, or the password itself. */
export function readStoredPassword(text: string): StoredPassword | Error {
  if (!text.startsWith(SCRYPT_PREFIX)) return text;
  return parseScryptHash(text) ?? new Error('malformed $scrypt$ hash (make one with: socx hash-password)');
}

/** `user:password` or `user:$scrypt$…` pairs, one a line; `#` starts a comment line. */
export function parseUsers(text: string): Map<string, StoredPassword> {
  const users = new Map<string, StoredPassword>();
  text.split(LINE_BREAK).forEach((line, index) => {
    const entry = splitUsersLine(line);
    if (entry === undefined) return;
    if (entry === 'no colon') throw new UsersFileError(index + 1, 'expected user:password or user:$scrypt$…');
    const problem = credentialProblem(entry.username, entry.password);
    if (problem) throw new UsersFileError(index + 1, problem);
    const stored = readStoredPassword(entry.password);
    if (stored instanceof Error) throw new UsersFileError(index + 1, stored.message);
    users.set(entry.username, stored);
  });
  return users;
}

const LINE_BREAK = /\r?\n/;

/** A users-file line: undefined when it is blank or a comment, else the user name before the first colon and
 * the password after it. */
function splitUsersLine(line: string): { username: string; password: string } | 'no colon' | undefined {
  // Only blank and comment lines are recognised by their trimmed form: a password may end in spaces.
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  const colon = line.indexOf(':');
  return colon < 0 ? 'no colon' : { username: line.slice(0, colon), password: line.slice(colon + 1) };
}

/** Why a users-file line for `username` would not read back as that user, by parseUsers' own steps (two lines,
 * a comment, another user), or undefined when it would. */
export function usersFileNameProblem(username: string): string | undefined {
  const length = credentialProblem(username, 'x');
  if (length) return length;
  if (LINE_BREAK.test(username)) return 'it holds a line break, and the file has one user a line';
  const entry = splitUsersLine(`${username}:x`);
  if (entry === undefined) return 'a line that starts with "#" (after any spaces) is a comment';
  if (entry === 'no colon' || entry.username !== username) return '":" ends the user name there (user:password)';
  return undefined;
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Compares in constant time: hashing first makes the lengths equal, so neither the password's length nor
 * the position of the first wrong byte shows in the timing. */
function plainMatches(expected: string | undefined, password: string): boolean {
  const matches = timingSafeEqual(digest(expected ?? '\0unknown user'), digest(password));
  return expected !== undefined && matches;
}

/** Verified hashed logins kept in memory, so that a client reconnecting with the same password does not pay
 * scrypt each time. Keys are an HMAC under a per-process random key: the cache never holds a password or
 * anything a dump could test guesses against offline faster than the scrypt hashes themselves. */
const CACHE_LIMIT = 10_000;

/** Checks RFC 1929 credentials against `users`: plain entries in constant time (an unknown user costs the
 * same as a wrong password), hashed ones with scrypt off the main thread. A new set of users (a reload) makes
 * a new authenticator, with an empty cache. */
export function usersAuthenticator(users: Users): Authenticate {
  const cacheKey = randomBytes(32);
  const verified = new Set<string>();
  return (username, password, _client, done) => {
    const stored = users.get(username);
    if (!(stored instanceof ScryptHash)) return done(plainMatches(stored, password));
    const key = createHmac('sha256', cacheKey).update(username).update('\0').update(password).digest('base64');
    if (verified.has(key)) return done(true);
    verifyScrypt(stored, password).then((ok) => {
      if (ok) {
        if (verified.size >= CACHE_LIMIT) verified.clear();
        verified.add(key);
      }
      done(ok);
    }, () => done(false));
  };
}
