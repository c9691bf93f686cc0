/** RFC 7617 §2: the credentials of the Basic scheme, as a Proxy-Authorization (or Authorization) value:
 * "Basic " and base64 of user ":" password, in UTF-8 (§2.1's charset="UTF-8", which every proxy here reads). */
export function basicCredentials(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
