import type { Socket } from 'node:net';
import { toAddress } from '../codec/address.ts';
import { Command, Reply } from '../codec/constants.ts';
import { decodeReply, encodeRequest } from '../codec/socks5.ts';
import { hexBytes } from './bytes.ts';
import { payload, showReply, socks5Request, socks5Wire } from './conformance-session.ts';
import { fail, notApplicable, pass, type ConformanceContext, type Outcome } from './conformance-types.ts';
import type { Arrival } from './token-target.ts';
import type { Wire } from './wire.ts';

/** Data right behind the request, before the reply (after the greeting): it must reach the target. */
export async function dataBehindRequest(context: ConformanceContext): Promise<Outcome> {
  const wire = await socks5Wire(context);
  if (typeof wire === 'string') return notApplicable(wire);
  const data = payload('behind');
  try {
    wire.send(Buffer.concat([encodeRequest({ command: Command.CONNECT, address: toAddress(context.targets.host, context.targets.tcpPort) }), data]));
    const reply = await wire.read(decodeReply);
    if (!reply.ok) return fail(`request and data in one write: no reply: ${reply.text}`);
    if (reply.value.reply !== Reply.SUCCEEDED) return notApplicable(`CONNECT refused: ${showReply(reply)}`);
    const back = await wire.readBytes(data.length);
    if (back.equals(data)) return pass(`request + ${data.length} bytes in one write → ${hexBytes(reply.bytes)}, the bytes echoed`);
    return fail(`granted, but the ${data.length} bytes behind the request were ${back.length === 0 ? 'lost' : `mangled (${hexBytes(back, 16)})`}`);
  } finally {
    wire.destroy();
  }
}

/** A CONNECT to the token target: the client's Wire and the target's end of the same connection. */
async function connectBothEnds(context: ConformanceContext): Promise<{ wire: Wire; far: Arrival } | Outcome> {
  const { token, arrival } = context.tokens.expect(context.timeoutMs * 2);
  const attempt = await socks5Request(context, Command.CONNECT, toAddress(context.tokens.host, context.tokens.port));
  if (typeof attempt === 'string') return notApplicable(attempt);
  const { wire, reply } = attempt;
  if (!reply.ok || reply.value.reply !== Reply.SUCCEEDED) {
    wire.destroy();
    return notApplicable(`CONNECT failed: ${reply.ok ? showReply(reply) : reply.text}`);
  }
  wire.send(token);
  const far = await arrival;
  if (!far) {
    wire.destroy();
    return fail('granted, but nothing reached the target');
  }
  return { wire, far };
}

/** What the target's end reads until the FIN, or until `timeoutMs`. */
function readToEnd(socket: Socket, head: Buffer, timeoutMs: number): Promise<{ data: Buffer; ended: boolean }> {
  return new Promise((resolve) => {
    let data = head;
    const finish = (ended: boolean): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve({ data, ended });
    };
    const onData = (chunk: Buffer): void => { data = Buffer.concat([data, chunk]); };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', onData);
    socket.once('end', () => finish(true));
    socket.once('close', () => finish(false));
    socket.resume();
  });
}

/** The client half-closes first: its FIN must reach the target, and the target's answer after it must still
 * come back (RFC 9293 §3.6: a FIN ends one direction only). */
export async function halfCloseClientFirst(context: ConformanceContext): Promise<Outcome> {
  const ends = await connectBothEnds(context);
  if ('result' in ends) return ends;
  const { wire, far } = ends;
  try {
    const ping = payload('ping');
    wire.send(ping);
    wire.socket.end();
    const upstream = await readToEnd(far.socket, far.head, context.timeoutMs);
    if (!upstream.ended) return fail(`the client's FIN did not reach the target (it got ${upstream.data.length} of ${ping.length} bytes and no FIN)`);
    const pong = payload('pong after FIN');
    far.socket.end(pong);
    const back = await wire.readBytes(pong.length);
    if (!back.equals(pong)) return fail(`after the client's FIN, the target's ${pong.length} bytes ${back.length === 0 ? 'were lost' : 'came back mangled'}${wire.ended ? ': the proxy closed the connection' : ''}`);
    return await wire.closed() ? pass('client FIN carried; the target\'s later bytes and FIN came back') : fail('the target\'s FIN did not come back');
  } finally {
    wire.destroy();
    far.socket.destroy();
  }
}

/** The target half-closes first: its FIN must reach the client, and the client's bytes after it must still
 * reach the target. */
export async function halfCloseTargetFirst(context: ConformanceContext): Promise<Outcome> {
  const ends = await connectBothEnds(context);
  if ('result' in ends) return ends;
  const { wire, far } = ends;
  try {
    const bye = payload('bye');
    far.socket.end(bye);
    const back = await wire.readBytes(bye.length);
    if (!back.equals(bye)) return fail(`the target's bytes before its FIN did not come back (${back.length} of ${bye.length})`);
    if (!await wire.closed()) return fail('the target\'s FIN did not reach the client');
    const late = payload('late');
    const upstream = readToEnd(far.socket, far.head, context.timeoutMs);
    wire.send(late);
    wire.socket.end();
    const got = await upstream;
    if (!got.data.subarray(-late.length).equals(late)) return fail(`after the target's FIN, the client's ${late.length} bytes did not reach it (got ${got.data.length})`);
    return got.ended ? pass('target FIN carried; the client\'s later bytes and FIN reached the target') : fail('the client\'s FIN did not reach the target');
  } finally {
    wire.destroy();
    far.socket.destroy();
  }
}
