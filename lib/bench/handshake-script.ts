import type { ProxyConfig } from '../client/proxy-url.ts';
import { AuthStatus, Command, Method, Reply, replyName, Socks4Reply as Socks4Code, socks4ReplyName } from '../codec/constants.ts';
import type { Decoder } from '../codec/decoded.ts';
import { encodeSocks4Request, decodeSocks4Reply } from '../codec/socks4.ts';
import { decodeMethodSelection, decodeReply, decodeUserPassReply, encodeGreeting, encodeRequest, encodeUserPassRequest } from '../codec/socks5.ts';

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
  if (proxy.kind === 'socks' && proxy.version === 4) {
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
