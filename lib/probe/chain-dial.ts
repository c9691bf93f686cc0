import { dialThrough } from '../client/chain.ts';
import { describeProxy, type ProxyConfig } from '../client/proxy-url.ts';
import type { Dial } from '../dial.ts';
import { SocxError, describeError } from '../errors.ts';

/** The probe's dial through the hops before the probed proxy. dialThrough numbers the hops it was given; a
 * lone hop there is still hop 1 of the chain here, so its errors are named as such. */
export function chainDial(via: readonly ProxyConfig[]): Dial {
  const dial = dialThrough(via, {});
  const first = via[0];
  return (host, port, options) => dial(host, port, options).catch((error: unknown) => {
    throw first && via.length === 1 ? asFirstHop(error, first) : error;
  });
}

function asFirstHop(error: unknown, first: ProxyConfig): unknown {
  if (!(error instanceof SocxError) || error.hop !== undefined) return error;
  const proxy = describeProxy(first);
  const message = error.phase === 'connect' ? `cannot connect to hop 1 (${proxy}): ${describeError(error.cause)}` : `hop 1 (${proxy}): ${error.message}`;
  return new SocxError(error.code, message, { phase: error.phase, hop: 1, proxy, ...(error.reply ? { reply: error.reply } : {}), cause: error });
}
