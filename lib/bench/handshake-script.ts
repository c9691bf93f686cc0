import type { ProxyConfig } from '../client/proxy-url.ts';
import { AuthStatus, Command, Method, Reply, replyName, Socks4Reply as Socks4Code, socks4ReplyName } from '../codec/constants.ts';
import type { Decoder } from '../codec/decoded.ts';
import { encodeSocks4Request, decodeSocks4Reply } from '../codec/socks4.ts';
import { decodeMethodSelection, decodeReply, decodeUserPassReply, encodeGreeting, encodeRequest, encodeUserPassRequest } from '../codec/socks5.ts';
import { decodeHttpResponseHead, encodeHttpRequestHead, type HttpHeader, type HttpResponseHead } from '../codec/http-head.ts';
import { basicCredentials } from '../codec/http-basic.ts';
import { toAddress } from '../codec/address.ts';
import { connectAuthority } from '../client/http-connect.ts';

/**
 * A SOCKS handshake as a fixed script for the connection-rate generator: each step sends bytes computed once
 * and decodes one reply with the codec, so that a connection costs no encoding, no promise and no closure.
 * The script only covers a numeric IPv4 target (bench's own), which is all the generator ever asks for.
 */
export interface HandshakeStep {
  readonly send: Buffer;
  readonly decode: Decoder<unknown>;
  /** Undefined when the decoded reply lets the handshake go on, else what went wrong. */
  readonly check: (value: unknown) => string | undefined;
}

export function handshakeScript(proxy: ProxyConfig, target: { host: string; port: number }): HandshakeStep[] {
  const address = { type: 'ipv4', host: target.host, port: target.port } as const;
  if (proxy.kind === 'http') return httpConnectScript(proxy, target);
  if (proxy.version === 4) {
    return [{
      send: encodeSocks4Request({ command: Command.CONNECT, address, userId: proxy.username ?? '' }),
      decode: decodeSocks4Reply,
      check: (value) => {
        const { reply } = value as { reply: number };
        return reply === Socks4Code.GRANTED ? undefined : `SOCKS4 request refused: ${socks4ReplyName(reply)}`;
      },
    }];
  }
  const withAuth = proxy.username !== undefined;
  const method = withAuth ? Method.USERPASS : Method.NONE;
  const steps: HandshakeStep[] = [{
    send: encodeGreeting({ methods: [method] }),
    decode: decodeMethodSelection,
    check: (value) => ((value as { method: number }).method === method ? undefined : 'the proxy chose another method'),
  }];
  if (withAuth) {
    steps.push({
      send: encodeUserPassRequest({ username: proxy.username ?? '', password: proxy.password ?? '' }),
      decode: decodeUserPassReply,
      check: (value) => ((value as { status: number }).status === AuthStatus.SUCCESS ? undefined : 'login refused'),
    });
  }
  steps.push({
    send: encodeRequest({ command: Command.CONNECT, address }),
    decode: decodeReply,
    check: (value) => {
      const { reply } = value as { reply: number };
      return reply === Reply.SUCCEEDED ? undefined : `request refused: ${replyName(reply)}`;
    },
  });
  return steps;
}

/** HTTP CONNECT (RFC 9110 §9.3.6) as one step: the request with Basic credentials when given, and a 2xx
 * response head. The generator's "bytes before the ping" check covers a proxy that sends a body after it. */
function httpConnectScript(proxy: { username: string | undefined; password: string | undefined }, target: { host: string; port: number }): HandshakeStep[] {
  const authority = connectAuthority(toAddress(target.host, target.port));
  const headers: HttpHeader[] = [{ name: 'Host', value: authority }];
  if (proxy.username !== undefined) headers.push({ name: 'Proxy-Authorization', value: basicCredentials(proxy.username, proxy.password ?? '') });
  return [{
    send: encodeHttpRequestHead({ method: 'CONNECT', target: authority, headers }),
    decode: decodeHttpResponseHead,
    check: (value) => {
      const { status, reason } = value as HttpResponseHead;
      return status >= 200 && status <= 299 ? undefined : `CONNECT refused: ${status} ${reason}`;
    },
  }];
}
