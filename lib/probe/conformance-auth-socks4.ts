import { randomBytes } from 'node:crypto';
import { toAddress } from '../codec/address.ts';
import { AuthStatus, Command, Method } from '../codec/constants.ts';
import { decodeMethodSelection, decodeUserPassReply, encodeGreeting, encodeUserPassRequest } from '../codec/socks5.ts';
import { hexBytes } from './bytes.ts';
import { GRANTED, payload, showSocks4Reply, socks4Request } from './conformance-session.ts';
import { fail, notApplicable, pass, type ConformanceContext, type Outcome } from './conformance-types.ts';
import { isLoopback } from './targets.ts';
import { openWire, Wire } from './wire.ts';

/** Offers username/password alone and sends these credentials: the status reply, and whether the proxy then
 * closed. Undefined status: the proxy does not take username/password (the reason says why). */
async function tryCredentials(context: ConformanceContext, username: string, password: string): Promise<{ status: { bytes: Buffer; value: number }; closed: boolean } | { reason: string; broken: boolean }> {
  const wire = await openWire(context.proxy, context.timeoutMs);
  if (!(wire instanceof Wire)) return { reason: wire.text, broken: false };
  try {
    wire.send(encodeGreeting({ methods: [Method.USERPASS] }));
    const selection = await wire.read(decodeMethodSelection);
    if (!selection.ok || selection.value.method !== Method.USERPASS) return { reason: `the proxy does not take username/password (${selection.ok ? hexBytes(selection.bytes) : selection.text})`, broken: false };
    wire.send(encodeUserPassRequest({ username, password }));
    const status = await wire.read(decodeUserPassReply);
    if (!status.ok) return { reason: `no RFC 1929 status reply: ${status.text}`, broken: true };
    const closed = status.value.status === AuthStatus.SUCCESS ? false : await wire.closed();
    return { status: { bytes: status.bytes, value: status.value.status }, closed };
  } finally {
    wire.destroy();
  }
}

/** RFC 1929 §2: "If the server returns a `failure' (STATUS value other than X'00') status, it MUST close the
 * connection." Made-up credentials; the status must be VER 01 (not 05). */
export async function userpassFailureCloses(context: ConformanceContext): Promise<Outcome> {
  const tried = await tryCredentials(context, `socx-${randomBytes(6).toString('hex')}`, randomBytes(12).toString('hex'));
  if ('reason' in tried) return tried.broken ? fail(tried.reason) : notApplicable(tried.reason);
  if (tried.status.value === AuthStatus.SUCCESS) return notApplicable(`made-up credentials accepted (${hexBytes(tried.status.bytes)}): any will do`);
  return tried.closed ? pass(`made-up credentials: ${hexBytes(tried.status.bytes)}, then closed`) : fail(`made-up credentials: ${hexBytes(tried.status.bytes)}, and the connection stayed open`);
}

/** RFC 1929 §2: success is VER 01 STATUS 00. */
export async function userpassSuccess(context: ConformanceContext): Promise<Outcome> {
  if (context.proxy.username === undefined) return notApplicable('no credentials given (-U user:pass)');
  const tried = await tryCredentials(context, context.proxy.username, context.proxy.password ?? '');
  if ('reason' in tried) return tried.broken ? fail(tried.reason) : notApplicable(tried.reason);
  if (tried.status.value !== AuthStatus.SUCCESS) return notApplicable(`the given credentials were rejected (${hexBytes(tried.status.bytes)})`);
  return pass(`the given credentials: ${hexBytes(tried.status.bytes)}`);
}

/** SOCKS4 CONNECT where nothing listens: an 8-byte reply (VN 0), and not "granted". */
export function socks4RefusedTarget(context: ConformanceContext): Promise<Awaited<ReturnType<typeof socks4Request>>> {
  if (context.socks4 !== true) return Promise.resolve(context.socks4.reason);
  return socks4Request(context, Command.CONNECT, toAddress(context.targets.host, context.targets.closedPort)).then((attempt) => {
    if (typeof attempt !== 'string') attempt.wire.destroy();
    return attempt;
  });
}

export function socks4RefusalComplete(attempt: Awaited<ReturnType<typeof socks4Request>>): Outcome {
  if (typeof attempt === 'string') return notApplicable(attempt);
  if (!attempt.reply.ok) return fail(`SOCKS4 CONNECT to a closed port: ${attempt.reply.text}`);
  const version = attempt.reply.bytes[0] === 0 ? '' : ' (VN should be 0)';
  return pass(`SOCKS4 CONNECT to a closed port: ${showSocks4Reply(attempt.reply)}${version}`);
}

export function socks4NoSuccessForRefused(attempt: Awaited<ReturnType<typeof socks4Request>>): Outcome {
  if (typeof attempt === 'string') return notApplicable(attempt);
  if (!attempt.reply.ok) return notApplicable(`no complete reply: ${attempt.reply.text}`);
  if (attempt.reply.value.reply === GRANTED) return fail(`granted for a port where nothing listens (it replies before connecting): ${showSocks4Reply(attempt.reply)}`);
  return pass(showSocks4Reply(attempt.reply));
}

/** SOCKS4a: DSTIP 0.0.0.x and a name behind USERID, which the proxy resolves (here to the echo). */
export async function socks4aName(context: ConformanceContext): Promise<Outcome> {
  if (context.socks4 !== true) return notApplicable(context.socks4.reason);
  const { targets } = context;
  const name = isLoopback(targets.host) ? 'localhost' : targets.host;
  const attempt = await socks4Request(context, Command.CONNECT, { type: 'domain', host: name, port: targets.tcpPort });
  if (typeof attempt === 'string') return notApplicable(attempt);
  const { wire, reply } = attempt;
  try {
    if (!reply.ok) return fail(`SOCKS4a CONNECT to ${name}: ${reply.text}`);
    if (reply.value.reply !== GRANTED) return notApplicable(`no SOCKS4a: ${showSocks4Reply(reply)}`);
    const data = payload('socks4a');
    wire.send(data);
    const back = await wire.readBytes(data.length);
    return back.equals(data) ? pass(`SOCKS4a CONNECT to ${name}: ${hexBytes(reply.bytes)}, data back`) : fail(`granted (${hexBytes(reply.bytes)}), but the echo's data did not come back`);
  } finally {
    wire.destroy();
  }
}
