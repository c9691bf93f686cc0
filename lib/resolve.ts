import { lookup } from 'node:dns';

export type ResolveCallback = (error: Error | null, address: string, family: 4 | 6) => void;

/** How the server turns a host name into one address for a UDP datagram; injected so tests run without DNS.
 * Callback style on purpose: the UDP relay calls it from its datagram handler, where a promise per datagram
 * is a cost we do not want (and names are cached, so most datagrams never get here). */
export type Resolve = (host: string, callback: ResolveCallback) => void;

/** The system resolver (getaddrinfo, as TCP dials use), first address of either family. */
export const resolveHost: Resolve = (host, callback) => {
  lookup(host, { family: 0 }, (error, address, family) => callback(error, address, family === 6 ? 6 : 4));
};
