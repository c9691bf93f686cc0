import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { CAC } from 'cac';
import { formatAddress, isUnspecified, toAddress } from '../lib/codec/address.ts';
import { SocxError, usageError } from '../lib/errors.ts';
import { parseCredential, parseUsers, UsersFileError } from '../lib/server/auth.ts';
import { isLoopback, parseListenAddress } from '../lib/server/listen-address.ts';
import { formatConnectionRecord } from '../lib/server/log-line.ts';
import { defaultServerConfig, SocksServer, type ListenAddress } from '../lib/server/server.ts';
import type { CommandHandler, ServerConfig } from '../lib/server/types.ts';
import { udpCommand } from '../lib/server/udp-command.ts';
import { bindCommand } from '../lib/server/bind-command.ts';
import { flagOption, integerOption, listOption, stringOption } from './options.ts';
import { printError, printStatus } from './output.ts';
import { parsePolicy, rulesFromArgv } from './serve-rules.ts';

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
    .option('--handshake-timeout <ms>', 'Time a client has to complete its handshake', { default: 10000 })
    .option('--connect-timeout <ms>', 'Time allowed to connect to a target', { default: 10000 })
    .option('--no-bind', 'Refuse BIND requests (reply 0x07, command not supported)')
    .option('--bind-timeout <s>', 'How long a BIND waits for its peer to connect; then a failure reply, and the port is freed', { default: 60 })
    .option('--idle-timeout <s>', 'Close a relay after this many seconds without traffic; 0 never', { default: 0 })
    .option('--no-udp', 'Refuse UDP ASSOCIATE requests (reply 0x07, command not supported)')
    .option('--udp-ports <low-high>', 'Bind UDP relay sockets only on ports in this range, e.g. 40000-40099 (to map them through a firewall or container); default: any free port')
    .option('--udp-idle-timeout <s>', 'End a UDP association after this many seconds without a relayed datagram; 0 never', { default: 120 })
    .option('--max-udp-associations <n>', 'Open UDP associations allowed per client IP; 0 no limit', { default: 32 })
    .option('--max-connections <n>', `Connections open at once; over it new ones are closed at once; 0 no limit (default: from the fd limit, ${defaultServerConfig.maxConnections} here)`)
    .option('--max-connections-per-ip <n>', 'Connections open at once from one client IP; 0 no limit', { default: 0 })
    .option('--max-handshakes <n>', `Connections still in their handshake; when full, the oldest is dropped for each newcomer (default: a quarter of --max-connections, ${defaultServerConfig.maxPendingHandshakes} here)`)
    .option('--max-binds-per-ip <n>', 'BIND requests open at once from one client IP; 0 no limit', { default: defaultServerConfig.maxBindsPerIp })
    .option('--keepalive <s>', 'TCP keepalive on both legs of a relay: idle seconds before the first probe; 0 off', { default: defaultServerConfig.keepAliveMs / 1000 })
    .option('--allow <rule>', 'Allow what the rule matches (repeatable; with --deny, first match wins), e.g. "to=10.0.0.0/8 port=22"')
    .option('--deny <rule>', 'Refuse what the rule matches with reply 0x02 (repeatable), e.g. "private", "to=*.internal", "from=192.0.2.0/24 cmd=bind"')
    .option('--lookup-timeout <ms>', 'Time a name lookup may take; then reply 0x04 (host unreachable)', { default: 5000 })
    .option('--grace <ms>', 'On SIGINT/SIGTERM, how long open connections may run before they are cut', { default: 5000 })
    .option('-q, --quiet', 'Print only the ready line and errors')
    .option('-v, --verbose', 'Also print handshake details')
    .example('socx serve -l 0.0.0.0:1080 --users ./users.txt')
    .action((options: Record<string, unknown>) => serve(parseServeOptions(options, rulesFromArgv(cli.rawArgs))));
}

function parseServeOptions(raw: Record<string, unknown>, argvRules: readonly string[]): ServeOptions {
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
    graceMs: integerOption(raw.grace, 'grace', 0) ?? 5000,
    quiet: flagOption(raw.quiet),
    verbose: flagOption(raw.verbose),
    config: {
      users,
      socks4: raw.socks4 !== false,
      advertise: parseAdvertise(stringOption(raw.advertise, 'advertise')),
      commands: enabledCommands(raw),
      handshakeTimeoutMs: integerOption(raw.handshakeTimeout, 'handshake-timeout', 1) ?? 10_000,
      connectTimeoutMs: integerOption(raw.connectTimeout, 'connect-timeout', 1) ?? 10_000,
      bindTimeoutMs: (integerOption(raw.bindTimeout, 'bind-timeout', 1) ?? 60) * 1000,
      idleTimeoutMs: (integerOption(raw.idleTimeout, 'idle-timeout', 0) ?? 0) * 1000,
      udpIdleTimeoutMs: (integerOption(raw.udpIdleTimeout, 'udp-idle-timeout', 0) ?? 120) * 1000,
      udpPortRange: parsePortRange(stringOption(raw.udpPorts, 'udp-ports')),
      maxUdpAssociationsPerClient: integerOption(raw.maxUdpAssociations, 'max-udp-associations', 0) ?? 32,
      ...connectionLimits(raw),
      policy: parsePolicy(argvRules, listOption(raw.rules, 'rules')),
      lookupTimeoutMs: integerOption(raw.lookupTimeout, 'lookup-timeout', 1) ?? 5000,
      maxBindsPerIp: integerOption(raw.maxBindsPerIp, 'max-binds-per-ip', 0) ?? defaultServerConfig.maxBindsPerIp,
      keepAliveMs: (integerOption(raw.keepalive, 'keepalive', 0) ?? defaultServerConfig.keepAliveMs / 1000) * 1000,
    },
  };
}

/** What the server enforces, for the lines after the ready lines. */
function enforcedLines(config: ServerConfig, bound: readonly ListenAddress[]): string[] {
  const limit = (n: number): string => (n > 0 ? String(n) : 'no limit');
  const lines = [`limits: ${limit(config.maxConnections)} connections, ${config.maxPendingHandshakes} in handshake (oldest dropped first), per IP ${limit(config.maxConnectionsPerIp)}; handshake deadline ${config.handshakeTimeoutMs} ms`];
  const kinds = new Set(bound.map((address) => !isLoopback(address.host)));
  for (const exposed of [false, true]) {
    if (!kinds.has(exposed)) continue;
    const where = kinds.size > 1 ? (exposed ? ' (non-loopback listeners)' : ' (loopback listeners)') : '';
    for (const line of config.policy.summary(exposed)) lines.push(`policy${where}: ${line}`);
  }
  return lines;
}

function connectionLimits(raw: Record<string, unknown>): Pick<ServerConfig, 'maxConnections' | 'maxConnectionsPerIp' | 'maxPendingHandshakes'> {
  const maxConnections = integerOption(raw.maxConnections, 'max-connections', 0) ?? defaultServerConfig.maxConnections;
  const derived = maxConnections === 0 ? defaultServerConfig.maxPendingHandshakes : Math.max(1, Math.floor(maxConnections / 4));
  return {
    maxConnections,
    maxConnectionsPerIp: integerOption(raw.maxConnectionsPerIp, 'max-connections-per-ip', 0) ?? 0,
    maxPendingHandshakes: integerOption(raw.maxHandshakes, 'max-handshakes', 1) ?? derived,
  };
}

function enabledCommands(raw: Record<string, unknown>): ServerConfig['commands'] {
  const commands: { -readonly [K in keyof ServerConfig['commands']]: CommandHandler } = {};
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
    onWarning: (line) => printStatus(line),
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
  if (!options.quiet) for (const line of enforcedLines(server.config, bound)) printStatus(line);
  await stopped;
  return 0;
}
