import type { Socket } from 'node:net';
import type { Address } from '../codec/address.ts';
import type { CommandName } from '../codec/constants.ts';
import type { Dial, Egress } from '../dial.ts';
import type { MessageReader } from '../message-reader.ts';
import type { Resolve } from '../resolve.ts';
import type { Authenticate } from './auth.ts';

/** A client's request once the handshake is through, whichever version it spoke. */
export interface SessionRequest {
  readonly version: 4 | 5;
  readonly command: number;
  readonly address: Address;
  readonly user: string | undefined;
}

export interface ClientInfo { readonly host: string; readonly port: number }

/** What one connection did, for the per-connection log line. */
export interface ConnectionRecord {
  client: string;
  version: 4 | 5 | undefined;
  command: CommandName | undefined;
  target: string | undefined;
  user: string | undefined;
  ok: boolean;
  result: string;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  /** Command-specific counters (e.g. UDP datagrams), printed as key=value. */
  extra: Record<string, string | number>;
}

export interface CommandContext {
  readonly socket: Socket;
  readonly reader: MessageReader;
  readonly request: SessionRequest;
  readonly client: ClientInfo;
  readonly config: ServerConfig;
  readonly record: ConnectionRecord;
  /** Aborted when the client's connection closes (a reset or a full close, not a half-close) or the server
   * shuts down for good. */
  readonly signal: AbortSignal;
  /** Sends a reply in SOCKS5 terms (REP code); SOCKS4 sessions translate it to 0x5A/0x5B. */
  reply(code: number, bound: Address): void;
  /** Sends a failure reply, records why, and closes the connection once the reply is delivered. */
  refuse(code: number, why: string): void;
  debug(message: string): void;
}

export type CommandHandler = (context: CommandContext) => Promise<void>;

export interface ServerConfig {
  /** RFC 1929 username/password check; undefined: no authentication (and SOCKS4 allowed). */
  readonly authenticate: Authenticate | undefined;
  readonly handshakeTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** How long a BIND waits for its peer to connect before the failure reply (and the port is freed). */
  readonly bindTimeoutMs: number;
  /** 0 disables. */
  readonly idleTimeoutMs: number;
  readonly maxHandshakeBytes: number;
  readonly socks4: boolean;
  /** The address to announce in BIND and UDP ASSOCIATE replies instead of our local one (behind NAT). */
  readonly advertise: string | undefined;
  /** UDP ASSOCIATE: end an association after this long without a relayed datagram; 0 never. */
  readonly udpIdleTimeoutMs: number;
  /** UDP ASSOCIATE: bind relay sockets only on ports in this range (to map through a firewall); any port
   * when undefined. */
  readonly udpPortRange: { readonly low: number; readonly high: number } | undefined;
  /** UDP ASSOCIATE: open associations allowed per client IP; 0 no limit. */
  readonly maxUdpAssociationsPerClient: number;
  /** Resolves host names in UDP datagrams (ATYP 03); TCP targets go through `dial`. */
  readonly resolve: Resolve;
  readonly commands: Readonly<Partial<Record<CommandName, CommandHandler>>>;
  readonly dial: Dial;
  /** serve --egress: the local address of UDP relay sockets towards targets and of BIND listeners (TCP goes
   * through `dial`). */
  readonly egress: Egress | undefined;
  readonly allow: (request: SessionRequest, client: ClientInfo) => boolean;
  readonly onConnection: (record: ConnectionRecord) => void;
  readonly onDebug: ((message: string) => void) | undefined;
}
