/** RFC 7617 §2: the credentials of the Basic scheme, as a Proxy-Authorization (or Authorization) value:
 * "Basic " and base64 of user ":" password, in UTF-8 (§2.1's charset="UTF-8", which every proxy here reads). */
export function basicCredentials(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

export interface BasicCredentials { readonly username: string; readonly password: string }

/** The other way: the user and password of a `Basic` value (the password is everything after the first
 * colon); undefined for another scheme, an empty user or a token that is not base64. */
export function decodeBasicCredentials(value: string): BasicCredentials | undefined {
  const match = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})$/i.exec(value);
  if (!match?.[1]) return undefined;
  const text = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
