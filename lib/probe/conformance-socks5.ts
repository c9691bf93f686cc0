import { setTimeout as sleep } from 'node:timers/promises';
import { toAddress, type Address } from '../codec/address.ts';
import { Command, Method, methodName, Reply } from '../codec/constants.ts';
import { decodeMethodSelection, decodeReply, encodeGreeting, encodeRequest } from '../codec/socks5.ts';
import { hexBytes } from './bytes.ts';
import { greetingBytes, offer, payload, readGreetingAnswers, showReply, socks5Request } from './conformance-session.ts';
import { fail, notApplicable, pass, type ConformanceContext, type Outcome } from './conformance-types.ts';
import { openWire, Wire } from './wire.ts';

/** RFC 1928 §3: "If the selected METHOD is X'FF', none of the methods listed by the client are acceptable". */
export async function noAcceptableMethod(context: ConformanceContext): Promise<Outcome> {
  // X'80' is in the private range: no server can claim to share it with us.
  const answer = await offer(context, [0x80]);
  if (!answer.ok) return fail(`offered only method 0x80; ${answer.text}, where 05 ff is due`);
  if (answer.value.method === Method.NO_ACCEPTABLE) return pass(`offered only 0x80: ${hexBytes(answer.bytes)}`);
  return fail(`offered only 0x80, the proxy chose ${methodName(answer.value.method)}: ${hexBytes(answer.bytes)}`);
}

/** RFC 1928 §3: "The server selects from one of the methods given in METHODS". */
export async function offeredMethodOnly(context: ConformanceContext): Promise<Outcome> {
  const offers = [Method.NONE, Method.GSSAPI, Method.USERPASS];
  const answers = await Promise.all(offers.map((method) => offer(context, [method])));
  const shown = answers.map((answer, index) => `${hexBytes(Buffer.from([offers[index] ?? 0]))} → ${answer.ok ? hexBytes(answer.bytes) : 'none'}`).join(', ');
  const wrong = answers.findIndex((answer, index) => answer.ok && answer.value.method !== offers[index] && answer.value.method !== Method.NO_ACCEPTABLE);
  if (wrong >= 0) return fail(`chose a method that was not offered: ${shown}`);
  if (answers.every((answer) => !answer.ok)) return fail(`no method selection to any greeting: ${shown}`);
  return pass(shown);
}

/** TCP is a stream: a greeting that arrives a byte at a time is the same greeting (microsocks once took one
 * read for one message). */
export async function greetingSplit(context: ConformanceContext): Promise<Outcome> {
  const wire = await openWire(context.proxy, context.timeoutMs);
  if (!(wire instanceof Wire)) return fail(wire.text);
  try {
    const greeting = encodeGreeting({ methods: [Method.NONE] });
    for (let i = 0; i < greeting.length - 1; i++) {
      wire.send(greeting.subarray(i, i + 1));
      await sleep(100);
      if (wire.received.length > 0) return fail(`answered after ${i + 1} of ${greeting.length} bytes: ${hexBytes(wire.received)}`);
      if (wire.ended) return fail(`closed after ${i + 1} of ${greeting.length} bytes of the greeting`);
    }
    wire.send(greeting.subarray(-1));
    const answer = await wire.read(decodeMethodSelection);
    return answer.ok ? pass(`${hexBytes(greeting)} a byte at a time → ${hexBytes(answer.bytes)}`) : fail(`no answer to the greeting sent a byte at a time: ${answer.text}`);
  } finally {
    wire.destroy();
  }
}

/** CONNECT where nothing listens, once for both checks that read its reply. */
export function refusedTarget(context: ConformanceContext): Promise<Awaited<ReturnType<typeof socks5Request>>> {
  return withClosedWire(socks5Request(context, Command.CONNECT, toAddress(context.targets.host, context.targets.closedPort)));
}

async function withClosedWire<T extends { wire: Wire } | string>(pending: Promise<T>): Promise<T> {
  const done = await pending;
  if (typeof done !== 'string') done.wire.destroy();
  return done;
}

/** RFC 1928 §6: a reply is VER REP RSV ATYP BND.ADDR BND.PORT, 10 bytes with an IPv4 address, even for a no. */
export function refusalComplete(attempt: Awaited<ReturnType<typeof refusedTarget>>): Outcome {
  if (typeof attempt === 'string') return notApplicable(attempt);
  const { reply } = attempt;
  if (!reply.ok) return fail(`CONNECT to a closed port: ${reply.text}`);
  return pass(`CONNECT to a closed port: ${showReply(reply)}`);
}

/** RFC 1928 §6: success only once the connection is made; a proxy that says yes first says yes here too. */
export function noSuccessForRefused(attempt: Awaited<ReturnType<typeof refusedTarget>>): Outcome {
  if (typeof attempt === 'string') return notApplicable(attempt);
  const { reply } = attempt;
  if (!reply.ok) return notApplicable(`no complete reply: ${reply.text}`);
  if (reply.value.reply === Reply.SUCCEEDED) return fail(`success for a port where nothing listens (it replies before connecting): ${showReply(reply)}`);
  return pass(showReply(reply));
}

/** A request the proxy must refuse with a complete reply: an unknown command (X'07' is due) or address type
 * (X'08'). */
async function refusedRequest(context: ConformanceContext, patch: (request: Buffer) => void, due: number): Promise<Outcome> {
  const attempt = await withClosedWire(socks5Request(context, Command.CONNECT, toAddress(context.targets.host, context.targets.tcpPort), patch));
  if (typeof attempt === 'string') return notApplicable(attempt);
  const { reply } = attempt;
  if (!reply.ok) return fail(reply.text);
  if (reply.value.reply === Reply.SUCCEEDED) return fail(`success: ${showReply(reply)}`);
  const wording = reply.value.reply === due ? '' : ` (X'0${due}' would name it)`;
  return pass(`${showReply(reply)}${wording}`);
}

export function unknownCommand(context: ConformanceContext): Promise<Outcome> {
  return refusedRequest(context, (request) => { request[1] = 0x7f; }, Reply.COMMAND_NOT_SUPPORTED);
}

export function unknownAddressType(context: ConformanceContext): Promise<Outcome> {
  // An IPv4 request with ATYP X'02', which RFC 1928 §5 leaves unassigned: the 4 address bytes stay.
  return refusedRequest(context, (request) => { request[3] = 0x02; }, Reply.ADDRESS_TYPE_NOT_SUPPORTED);
}

/** RSV must be X'00' (RFC 1928 §4); a server may ignore a nonzero one or refuse it, but must answer. */
export async function reservedNonzero(context: ConformanceContext): Promise<Outcome> {
  const data = payload('rsv');
  const attempt = await socks5Request(context, Command.CONNECT, toAddress(context.targets.host, context.targets.tcpPort), (request) => { request[2] = 0x01; });
  if (typeof attempt === 'string') return notApplicable(attempt);
  const { wire, reply } = attempt;
  try {
    if (!reply.ok) return fail(`RSV 01: ${reply.text}`);
    if (reply.value.reply !== Reply.SUCCEEDED) return pass(`checked: RSV 01 refused with ${showReply(reply)}`);
    wire.send(data);
    const back = await wire.readBytes(data.length);
    return back.equals(data) ? pass(`ignored: RSV 01 granted (${hexBytes(reply.bytes)}) and data flows`) : fail(`RSV 01 granted (${hexBytes(reply.bytes)}), but no data came back`);
  } finally {
    wire.destroy();
  }
}

/** RFC 1928 §5: a name is a length octet and 1-255 octets; both ends of the range must parse. Neither name
 * resolves, so any complete reply passes: what is checked is that the request was read right. */
export async function domainLength(context: ConformanceContext, length: 1 | 255): Promise<Outcome> {
  const name = length === 1 ? 'a' : Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.');
  const attempt = await withClosedWire(socks5Request(context, Command.CONNECT, { type: 'domain', host: name, port: context.targets.tcpPort }));
  if (typeof attempt === 'string') return notApplicable(attempt);
  return attempt.reply.ok ? pass(`a ${length}-byte name: ${showReply(attempt.reply)}`) : fail(`a ${length}-byte name: ${attempt.reply.text}`);
}

/** RFC 1928 §5 ATYP X'04': CONNECT to the echo on ::1 (or the facing IPv6 address) and back. */
export async function ipv6Target(context: ConformanceContext): Promise<Outcome> {
  const echo = ipv6Echo(context);
  if (!echo) return notApplicable('no local IPv6 address faces the proxy');
  const data = payload('ipv6');
  const attempt = await socks5Request(context, Command.CONNECT, echo);
  if (typeof attempt === 'string') return notApplicable(attempt);
  const { wire, reply } = attempt;
  try {
    if (!reply.ok) return fail(`CONNECT to [${echo.host}]: ${reply.text}`);
    if (reply.value.reply !== Reply.SUCCEEDED) return notApplicable(`the proxy does not reach IPv6 targets: ${showReply(reply)}`);
    wire.send(data);
    const back = await wire.readBytes(data.length);
    return back.equals(data) ? pass(`CONNECT to [${echo.host}]:${echo.port}: ${hexBytes(reply.bytes)}, data back`) : fail(`granted (${hexBytes(reply.bytes)}) but the echo's data did not come back`);
  } finally {
    wire.destroy();
  }
}

function ipv6Echo({ targets }: ConformanceContext): Address | undefined {
  const main = toAddress(targets.host, targets.tcpPort);
  if (main.type === 'ipv6') return main;
  return targets.otherLoopback && targets.otherLoopback.host.includes(':') ? toAddress(targets.otherLoopback.host, targets.otherLoopback.port) : undefined;
}

/** Greeting, request and data in one write (what optimistic clients send): each is answered in turn, and
 * the data reaches the target. */
export async function pipelinedRequest(context: ConformanceContext): Promise<Outcome> {
  if ('reason' in context.socks5) return notApplicable(context.socks5.reason);
  const { method } = context.socks5;
  const wire = await openWire(context.proxy, context.timeoutMs);
  if (!(wire instanceof Wire)) return fail(wire.text);
  const data = payload('pipelined');
  try {
    wire.send(Buffer.concat([greetingBytes(context.proxy, method), encodeRequest({ command: Command.CONNECT, address: toAddress(context.targets.host, context.targets.tcpPort) }), data]));
    const greeted = await readGreetingAnswers(wire, method);
    if (greeted !== undefined) return fail(`greeting, request and data in one write: ${greeted}`);
    const reply = await wire.read(decodeReply);
    if (!reply.ok) return fail(`greeting, request and data in one write: no reply: ${reply.text}`);
    if (reply.value.reply !== Reply.SUCCEEDED) return fail(`greeting, request and data in one write: ${showReply(reply)}`);
    const back = await wire.readBytes(data.length);
    if (back.equals(data)) return pass(`one write → ${hexBytes(wire.received.subarray(0, wire.received.length - data.length))} and the data back`);
    return fail(`granted, but the data sent behind the request was ${back.length === 0 ? 'lost' : `mangled (${hexBytes(back, 16)})`}`);
  } finally {
    wire.destroy();
  }
}
