import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { CAC } from 'cac';
import { formatAddress, isUnspecified, toAddress } from '../lib/codec/address.ts';
import { SocxError, usageError } from '../lib/errors.ts';
import { parseCredential, parseUsers, UsersFileError } from '../lib/server/auth.ts';
import { isLoopback, parseListenAddress } from '../lib/server/listen-address.ts';
import { formatConnectionRecord } from '../lib/server/log-line.ts';
import { SocksServer, type ListenAddress } from '../lib/server/server.ts';
import type { CommandHandler, ServerConfig } from '../lib/server/types.ts';
import type { CommandName } from '../lib/codec/constants.ts';
import { connectCommand } from '../lib/server/connect-command.ts';
import { udpCommand } from '../lib/server/udp-command.ts';
import { bindCommand } from '../lib/server/bind-command.ts';
import { durationOption, flagOption, HOUR, integerOption, listOption, MINUTE, stringOption } from './options.ts';
import { printError, printStatus } from './output.ts';

interface ServeOptions {
  readonly listen: ListenAddress[];
  readonly users: Map<string, string>;
  readonly config: Partial<ServerConfig>;
  readonly graceMs: number;
  readonly quiet: boolean;
  readonly verbose: boolean;
}

export function registerServe(cli: CAC): void {
  cli
    .command('serve', 'Run a SOCKS4/4a/5 proxy server')
    .option('-l, --listen <[host:]port>', 'Address to listen on, repeatable; port 0 picks a free port', { default: '127.0.0.1:1080' })
    .option('--auth <user:pass>', 'Accept this user (repeatable); SOCKS5 clients must then authenticate, SOCKS4 is refused')
    .option('--users <file>', 'Read users from a file, one user:password a line, # comments')
    .option('--allow-open-proxy', 'Allow listening on a non-loopback address without any users configured')
    .option('--no-socks4', 'Refuse SOCKS4 and SOCKS4a requests')
    .option('--advertise <addr>', 'Address to announce in BIND and UDP ASSOCIATE replies (when behind NAT); default: the local address of the client connection')
    .option('--handshake-timeout <duration, bare = ms>', 'Time a client has to complete its handshake', { default: '10s' })
    .option('--connect-timeout <duration, bare = ms>', 'Time allowed to connect to a target', { default: '10s' })
    .option('--no-bind', 'Refuse BIND requests (reply 0x07, command not supported)')
    .option('--bind-timeout <duration, bare = s>', 'How long a BIND waits for its peer to connect; then a failure reply, and the port is freed', { default: '60s' })
    .option('--idle-timeout <duration, bare = s>', 'Close a relay after this long without traffic; 0 never', { default: 0 })
    .option('--no-udp', 'Refuse UDP ASSOCIATE requests (reply 0x07, command not supported)')
    .option('--udp-ports <low-high>', 'Bind UDP relay sockets only on ports in this range, e.g. 40000-40099 (to map them through a firewall or container); default: any free port')
    .option('--udp-idle-timeout <duration, bare = s>', 'End a UDP association after this long without a relayed datagram; 0 never', { default: '120s' })
    .option('--max-udp-associations <n>', 'Open UDP associations allowed per client IP; 0 no limit', { default: 32 })
    .option('--grace <duration, bare = ms>', 'On SIGINT/SIGTERM, how long open connections may run before they are cut', { default: '5s' })
    .option('-q, --quiet', 'Print only the ready line and errors')
    .option('-v, --verbose', 'Also print handshake details')
    .example('socx serve -l 0.0.0.0:1080 --users ./users.txt')
    .action((options: Record<string, unknown>) => serve(parseServeOptions(options)));
}

function parseServeOptions(raw: Record<string, unknown>): ServeOptions {
  const listen = listOption(raw.listen, 'listen').map(parseListenAddress);
  const users = new Map<string, string>();
  const usersFile = stringOption(raw.users, 'users');
  if (usersFile !== undefined) for (const [name, pass] of readUsersFile(usersFile)) users.set(name, pass);
  for (const entry of listOption(raw.auth, 'auth')) {
    const credential = parseCredential(entry);
    if (!credential) throw usageError('--auth must be user:password (each 1-255 bytes)');
    users.set(credential.username, credential.password);
  }
  const exposed = listen.filter((address) => !isLoopback(address.host));
  if (exposed.length > 0 && users.size === 0 && !flagOption(raw.allowOpenProxy)) {
    throw usageError(`refusing to run an open proxy on ${exposed.map(formatAddress).join(', ')}: add users (--auth user:pass or --users FILE), or pass --allow-open-proxy if anyone who can reach it may use it`);
  }
  return {
    listen,
    users,
    graceMs: durationOption(raw.grace, 'grace', 'ms', { min: 0, max: HOUR }) ?? 5000,
    quiet: flagOption(raw.quiet),
    verbose: flagOption(raw.verbose),
    config: {
      users,
      socks4: raw.socks4 !== false,
      advertise: parseAdvertise(stringOption(raw.advertise, 'advertise')),
      commands: enabledCommands(raw),
      handshakeTimeoutMs: durationOption(raw.handshakeTimeout, 'handshake-timeout', 'ms', { min: 1, max: 5 * MINUTE }) ?? 10_000,
      connectTimeoutMs: durationOption(raw.connectTimeout, 'connect-timeout', 'ms', { min: 1, max: 5 * MINUTE }) ?? 10_000,
      bindTimeoutMs: durationOption(raw.bindTimeout, 'bind-timeout', 's', { min: 1, max: HOUR }) ?? 60_000,
      idleTimeoutMs: durationOption(raw.idleTimeout, 'idle-timeout', 's') ?? 0,
      udpIdleTimeoutMs: durationOption(raw.udpIdleTimeout, 'udp-idle-timeout', 's') ?? 120_000,
      udpPortRange: parsePortRange(stringOption(raw.udpPorts, 'udp-ports')),
      maxUdpAssociationsPerClient: integerOption(raw.maxUdpAssociations, 'max-udp-associations', 0) ?? 32,
    },
  };
}

function enabledCommands(raw: Record<string, unknown>): ServerConfig['commands'] {
  const commands: Partial<Record<CommandName, CommandHandler>> = { connect: connectCommand };
  if (raw.bind !== false) commands.bind = bindCommand;
  if (raw.udp !== false) commands.udp = udpCommand;
  return commands;
}

function parseAdvertise(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIP(bare) === 0) throw usageError(`--advertise must be an IP address, not "${text}"`);
  // The announced address is where peers must go: "anywhere" tells them nothing.
  if (isUnspecified(toAddress(bare, 0))) throw usageError(`--advertise must be an address peers can reach, not "${text}"`);
  return bare;
}

function parsePortRange(text: string | undefined): ServerConfig['udpPortRange'] {
  if (text === undefined) return undefined;
  const match = /^(\d+)-(\d+)$/.exec(text);
  const low = Number(match?.[1]);
  const high = Number(match?.[2]);
  if (!match || !(low >= 1 && low <= high && high <= 65535)) throw usageError(`--udp-ports must be LOW-HIGH with 1 <= LOW <= HIGH <= 65535, not "${text}"`);
  return { low, high };
}

function readUsersFile(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw usageError(`cannot read users file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    return parseUsers(text);
  } catch (error) {
    if (error instanceof UsersFileError) throw usageError(`users file ${path}, line ${error.line}: ${error.message}`);
    throw error;
  }
}

async function serve(options: ServeOptions): Promise<number> {
  const log = (line: string): void => { process.stderr.write(`${line}\n`); };
  const server = new SocksServer({
    ...options.config,
    onConnection: options.quiet ? () => {} : (record) => log(formatConnectionRecord(record)),
    onDebug: options.verbose ? log : undefined,
  });
  // Handlers go in before the ready line: a supervisor may signal as soon as it sees it.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (!options.quiet) printStatus(`${signal}: no longer accepting; ${server.connections} open connection(s) have ${options.graceMs} ms to finish`);
      process.once('SIGINT', () => { printError('second interrupt: closing now'); process.exit(0); });
      void server.close(options.graceMs).then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  let bound: ListenAddress[];
  try {
    bound = await server.listen(options.listen);
  } catch (error) {
    await server.close(0);
    const code = (error as NodeJS.ErrnoException).code;
    throw new SocxError('network', `cannot listen on ${options.listen.map(formatAddress).join(', ')}: ${code === 'EADDRINUSE' ? 'address already in use' : code ?? String(error)}`);
  }
  for (const address of bound) printStatus(`listening on ${formatAddress(address)}`);
  if (options.users.size > 0 && !options.quiet) printStatus(`${options.users.size} user(s); SOCKS5 clients must authenticate, SOCKS4 is refused`);
  await stopped;
  return 0;
}
