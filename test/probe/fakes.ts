/** Endpoints that are not (good) SOCKS proxies, for `socx probe` to tell apart: one that never answers, one that
 * closes at once, one that resets at once, an echo, one that says yes to everything without connecting anywhere, and one that cuts its error
 * replies short. Each tracks its sockets and closes them on stop. */

import { createServer, type Server, type Socket } from 'node:net';
import { Method } from '../../lib/codec/constants.ts';
import { decodeSocks4Request, type Socks4Request } from '../../lib/codec/socks4.ts';
import { decodeGreeting, decodeRequest, decodeUserPassRequest, encodeMethodSelection, encodeReply, type Socks5Request } from '../../lib/codec/socks5.ts';
import { closeServer, listen } from '../helpers/net.ts';

export interface Fake {
  readonly host: string;
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

async function startFake(onConnection: (socket: Socket) => void, host = '127.0.0.1'): Promise<Fake> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    onConnection(socket);
  });
  const port = await listen(server, host);
  return { host, port, connections: () => accepted, stop: () => closeServer(server, sockets) };
}

/** Accepts and never sends a byte. */
export function startSilent(): Promise<Fake> {
  return startFake((socket) => socket.resume());
}

/** Accepts and closes at once. */
export function startClosingAtOnce(): Promise<Fake> {
  return startFake((socket) => socket.destroy());
}

/** Accepts and resets at once (RST, not FIN), as a server at its per-address connection limit does. */
export function startResettingAtOnce(): Promise<Fake> {
  return startFake((socket) => socket.resetAndDestroy());
}

/** Sends back every byte it gets: TCP echo (RFC 862), which no reply decoder may take for a SOCKS server. */
export function startEcho(): Promise<Fake> {
  return startFake((socket) => socket.on('data', (chunk: Buffer) => socket.write(chunk)));
}

/** An echo that sends back the first two bytes of every chunk at once and the rest 50 ms later, as TCP may
 * deliver it: `05 01`, the start of a no-auth greeting, reads as "GSSAPI chosen" on its own. */
export function startSplitEcho(): Promise<Fake> {
  return startFake((socket) => socket.on('data', (chunk: Buffer) => {
    socket.write(chunk.subarray(0, 2));
    setTimeout(() => socket.writable && socket.write(chunk.subarray(2)), 50).unref();
  }));
}

/** `05 00` to the first chunk of every connection, then a success reply (BND 0.0.0.0:0) to the next, and then
 * swallows whatever comes: it connects nowhere. */
export function startYesMan(): Promise<Fake> {
  return startFake((socket) => {
    let chunks = 0;
    socket.on('data', () => {
      chunks++;
      if (chunks === 1) socket.write(Buffer.from([0x05, 0x00]));
      else if (chunks === 2) socket.write(Buffer.from([0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
    });
  });
}

/** A SOCKS5 server with no auth whose error reply to every request is `05 07` and a close: 2 bytes of the 10.
 * SOCKS4 requests get the same (as from a SOCKS5-only parser). */
export function startShortReplier(): Promise<Fake> {
  return startFake((socket) => {
    let chunks = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks++;
      if (chunks === 1 && chunk[0] === 0x05) socket.write(Buffer.from([0x05, 0x00]));
      else socket.end(Buffer.from([0x05, 0x07]));
    });
  });
}

/** An HTTP server that answers only once a request's head is complete, so it is silent to a SOCKS greeting
 * (as Python's http.server is). */
export function startPatientHttp(): Promise<Fake> {
  return startFake((socket) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\r\n\r\n')) socket.end('HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n');
    });
  });
}

/** Answers every request head with `response` and closes: an HTTP proxy that only ever says that. */
export function startHttpResponder(response: string): Promise<Fake> {
  return startFake((socket) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\r\n\r\n')) socket.end(Buffer.from(response, 'latin1'));
    });
  });
}

/** What a scripted fake does at each SOCKS stage; `undefined` from a request handler means "never answer". */
export interface Script {
  /** The method chosen for a greeting offering `methods`. */
  readonly choose: (methods: readonly number[]) => number;
  /** RFC 1929: whether these credentials pass. */
  readonly login?: (username: string, password: string) => boolean;
  readonly socks5?: (request: Socks5Request) => Buffer | undefined;
  readonly socks4?: (request: Socks4Request) => Buffer | undefined;
  /** Sent on accept, before anything is read (an SSH server's banner). */
  readonly banner?: Buffer;
}

/** A fake that speaks just enough SOCKS, with the lib's own decoders, to give the probe any set of answers:
 * a Tor-like proxy that takes no-auth and username/password, one that never answers a request. */
export function startScripted(script: Script): Promise<Fake> {
  return startFake((socket) => {
    if (script.banner) socket.write(script.banner);
    let buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' | 'done' = 'greeting';
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      try {
        for (;;) {
          if (stage === 'greeting' && buffer[0] === 0x04) {
            const request = decodeSocks4Request(buffer);
            if (!request.done) return;
            stage = 'done';
            const reply = script.socks4?.(request.value);
            if (reply) socket.write(reply);
            return;
          }
          if (stage === 'greeting') {
            const greeting = decodeGreeting(buffer);
            if (!greeting.done) return;
            buffer = buffer.subarray(greeting.length);
            const method = script.choose(greeting.value.methods);
            socket.write(encodeMethodSelection({ method }));
            if (method === Method.NO_ACCEPTABLE) return void socket.end();
            stage = method === Method.USERPASS ? 'auth' : 'request';
          } else if (stage === 'auth') {
            const credentials = decodeUserPassRequest(buffer);
            if (!credentials.done) return;
            buffer = buffer.subarray(credentials.length);
            const ok = script.login?.(credentials.value.username, credentials.value.password) ?? false;
            socket.write(Buffer.from([0x01, ok ? 0x00 : 0x01]));
            if (!ok) return void socket.end();
            stage = 'request';
          } else if (stage === 'request') {
            const request = decodeRequest(buffer);
            if (!request.done) return;
            stage = 'done';
            const reply = script.socks5?.(request.value);
            if (reply) socket.end(reply);
            return;
          } else {
            return;
          }
        }
      } catch {
        socket.destroy();
      }
    });
  });
}

/** A complete SOCKS5 refusal with this REP. */
export function socks5Refusal(reply: number): Buffer {
  return encodeReply({ reply, address: { type: 'ipv4', host: '0.0.0.0', port: 0 } });
}
