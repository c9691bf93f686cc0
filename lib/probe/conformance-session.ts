import { randomBytes } from 'node:crypto';
import type { Address } from '../codec/address.ts';
import { AuthStatus, Method, methodName, replyName, socks4ReplyName, Socks4Reply } from '../codec/constants.ts';
import { decodeSocks4Reply, encodeSocks4Request } from '../codec/socks4.ts';
import { decodeMethodSelection, decodeReply, decodeUserPassReply, encodeGreeting, encodeRequest, encodeUserPassRequest, type Socks5Reply } from '../codec/socks5.ts';
import type { ProxyConfig } from '../client/proxy-url.ts';
import { hexBytes } from './bytes.ts';
import type { ConformanceContext, Socks5Access } from './conformance-types.ts';
import { openWire, Wire, type Read } from './wire.ts';

/** The greeting (and RFC 1929 exchange) that gets this proxy to the request stage, as one buffer. */
export function greetingBytes(proxy: ProxyConfig, method: number): Buffer {
  const greeting = encodeGreeting({ methods: [method] });
  return method === Method.USERPASS ? Buffer.concat([greeting, credentialBytes(proxy)]) : greeting;
}

/** RFC 1929 §2: the given username and password. */
function credentialBytes(proxy: ProxyConfig): Buffer {
  return encodeUserPassRequest({ username: proxy.username ?? '', password: proxy.password ?? '' });
}

/** Which method SOCKS5 requests can go through: no-auth when offered alone, else username/password when
 * credentials were given and the proxy takes them. */
export async function socks5Access(proxy: ProxyConfig, timeoutMs: number): Promise<Socks5Access> {
  const none = await offerAlone(proxy, Method.NONE, timeoutMs);
  if (none === Method.NONE) return { method: Method.NONE };
  if (proxy.username === undefined) return { reason: typeof none === 'string' ? none : 'the proxy needs authentication: give credentials with -U user:pass' };
  const wire = await openWire(proxy, timeoutMs);
  if (!(wire instanceof Wire)) return { reason: wire.text };
  try {
    const reached = await throughGreeting(wire, proxy, Method.USERPASS);
    return reached === undefined ? { method: Method.USERPASS } : { reason: reached };
  } finally {
    wire.destroy();
  }
}

/** The method chosen for a greeting offering `method` alone, or why there was none. */
async function offerAlone(proxy: ProxyConfig, method: number, timeoutMs: number): Promise<number | string> {
  const selection = await offer({ proxy, timeoutMs }, [method]);
  return selection.ok ? selection.value.method : `no SOCKS5 method selection: ${selection.text}`;
}

/** A greeting offering `methods`, on its own connection: the selection, or why none came. */
export async function offer(context: Pick<ConformanceContext, 'proxy' | 'timeoutMs'>, methods: number[]): Promise<Read<{ method: number }> | { ok: false; text: string }> {
  const wire = await openWire(context.proxy, context.timeoutMs);
  if (!(wire instanceof Wire)) return { ok: false, text: wire.text };
  try {
    wire.send(encodeGreeting({ methods }));
    return await wire.read(decodeMethodSelection);
  } finally {
    wire.destroy();
  }
}

/** Greets offering `method` alone and, for username/password, authenticates; undefined once at the request
 * stage, else what went wrong. */
export async function throughGreeting(wire: Wire, proxy: ProxyConfig, method: number): Promise<string | undefined> {
  // One message at a time, each after its answer: only socks5-pipelined sends them together.
  wire.send(encodeGreeting({ methods: [method] }));
  return readGreetingAnswers(wire, method, () => wire.send(credentialBytes(proxy)));
}

/** The answers to greetingBytes(): the method selection and, for username/password, the status;
 * `beforeStatus` runs between the two (to send the credentials when they were not sent already). */
export async function readGreetingAnswers(wire: Wire, method: number, beforeStatus?: () => void): Promise<string | undefined> {
  const selection = await wire.read(decodeMethodSelection);
  if (!selection.ok) return `no method selection: ${selection.text}`;
  if (selection.value.method !== method) return `the proxy chose ${methodName(selection.value.method)} (${hexBytes(selection.bytes)})`;
  if (method !== Method.USERPASS) return undefined;
  beforeStatus?.();
  const status = await wire.read(decodeUserPassReply);
  if (!status.ok) return `no username/password status: ${status.text}`;
  return status.value.status === AuthStatus.SUCCESS ? undefined : `the proxy rejected the credentials (${hexBytes(status.bytes)})`;
}

/** A Wire at the SOCKS5 request stage, or why the check cannot run (n/a). */
export async function socks5Wire(context: ConformanceContext): Promise<Wire | string> {
  if ('reason' in context.socks5) return context.socks5.reason;
  const wire = await openWire(context.proxy, context.timeoutMs);
  if (!(wire instanceof Wire)) return wire.text;
  const failed = await throughGreeting(wire, context.proxy, context.socks5.method);
  if (failed === undefined) return wire;
  wire.destroy();
  return failed;
}

/** One SOCKS5 request on a fresh connection: its reply (or why none), the Wire left open for more. */
export async function socks5Request(context: ConformanceContext, command: number, address: Address, patch?: (request: Buffer) => void): Promise<{ wire: Wire; reply: Read<Socks5Reply> } | string> {
  const wire = await socks5Wire(context);
  if (typeof wire === 'string') return wire;
  const request = encodeRequest({ command, address });
  patch?.(request);
  wire.send(request);
  return { wire, reply: await wire.read(decodeReply) };
}

/** "05 05 00 01 7f 00 00 01 00 00 (connection refused)". */
export function showReply(read: { bytes: Buffer; value: Socks5Reply }): string {
  return `${hexBytes(read.bytes)} (${replyName(read.value.reply)})`;
}

export function showSocks4Reply(read: { bytes: Buffer; value: { reply: number } }): string {
  return `${hexBytes(read.bytes)} (${socks4ReplyName(read.value.reply)})`;
}

/** One SOCKS4 (or, for a name, SOCKS4a) request on a fresh connection: its reply, the Wire left open. */
export async function socks4Request(context: Pick<ConformanceContext, 'proxy' | 'timeoutMs'>, command: number, address: Address): Promise<{ wire: Wire; reply: Read<{ reply: number; port: number; host: string }> } | string> {
  const wire = await openWire(context.proxy, context.timeoutMs);
  if (!(wire instanceof Wire)) return wire.text;
  wire.send(encodeSocks4Request({ command, address, userId: context.proxy.username ?? '' }));
  return { wire, reply: await wire.read(decodeSocks4Reply) };
}

export const GRANTED = Socks4Reply.GRANTED;

/** A payload a check sends through and expects back whole. */
export function payload(label: string): Buffer {
  return Buffer.concat([Buffer.from(`socx-conformance ${label} `), randomBytes(8)]);
}
