import { isIP } from 'node:net';
import type { CAC, Command } from 'cac';
import { formatAddress, isUnspecified, toAddress } from '../lib/codec/address.ts';
import { cpuBudget } from '../lib/cpu-budget.ts';
import { usageError } from '../lib/errors.ts';
import { usersAuthenticator, type StoredPassword } from '../lib/server/auth.ts';
import { isExposed, parseEgress, parseListenAddress } from '../lib/server/listen-address.ts';
import { defaultServerConfig, type ListenAddress } from '../lib/server/server.ts';
import type { CommandHandler, ServerConfig } from '../lib/server/types.ts';
import { udpCommand } from '../lib/server/udp-command.ts';
import { bindCommand } from '../lib/server/bind-command.ts';
import { workerNumber } from '../lib/server/worker-child.ts';
import { perWorker } from '../lib/server/workers.ts';
import { durationOption, flagOption, HOUR, integerOption, listOption, MINUTE, stringOption } from './options.ts';
import { formatEffectiveSettings, mergeServeRaw, parseMerged } from './serve-config.ts';
import { parsePolicy, rulesFromArgv } from './serve-rules.ts';
import { markProxyProtocol, parseProxyProtocolFrom } from './serve-proxy-protocol.ts';
import { serve } from './serve-run.ts';
import { parseUpstreams } from './serve-upstreams.ts';
import { hideAuthFromPs, loadUsers } from './serve-users.ts';
import { serveWithWorkers, serveWorker, type WorkerSettings } from './serve-workers.ts';

export interface ServeOptions {
  readonly listen: ListenAddress[];
  readonly users: ReadonlyMap<string, StoredPassword>;
  readonly openProxy: boolean;
  readonly config: Partial<ServerConfig>;
  readonly graceMs: number;
  /** Processes serving the listeners (`--workers`); the caps in `config` are already each one's part. */
  readonly workers: number;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly logFormat: 'text' | 'json';
  readonly logFile: string | undefined;
  readonly metrics: ListenAddress | undefined;
}

export function registerServe(cli: CAC): void {
  // Defaults are applied by mergeServeRaw, under the config file's values (cac's would hide them).
  const command: Command = cli.command('serve', 'Run a SOCKS4/4a/5 proxy server', { ignoreOptionDefaultValue: true });
  command
    .option('--config <file>', 'Read settings from this YAML file (README: "Config file"); flags given here override it')
    .option('--check-config', 'Validate the settings and the config file, print the effective settings (passwords masked) and exit: 0 valid, 2 not')
    .option('-l, --listen <[host:]port>', 'Address to listen on, repeatable; port 0 picks a free port', { default: '127.0.0.1:1080' })
    .option('--auth <user:pass>', 'Accept this user (repeatable; also $SOCX_AUTH); SOCKS5 clients must then authenticate, SOCKS4 is refused')
    .option('--users <file>', 'Read users from a file, one user:password or user:$scrypt$… hash (socx hash-password) a line, # comments')
    .option('--allow-open-proxy', 'Allow listening on a non-loopback address without any users configured')
    .option('--no-socks4', 'Refuse SOCKS4 and SOCKS4a requests')
    .option('--no-http', 'Do not speak HTTP proxy (CONNECT and http:// requests, on by default on every listener); a connection that is not SOCKS is closed')
    .option('--egress <addr>', 'Local address for connections to targets, UDP relay sockets towards targets and BIND listeners; one per family (repeatable)')
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
    .option('--proxy-protocol', 'Every listener expects a PROXY protocol v1 or v2 header first (HAProxy send-proxy, a cloud NLB) and takes the client address from it; needs --proxy-protocol-from')
    .option('--proxy-protocol-from <cidr>', 'The load balancers (repeatable CIDR or address): the only peers PROXY protocol listeners take connections from; no default')
    .option('--max-connections <n>', `Connections open at once; over it new ones are closed at once; 0 no limit (default: from the fd limit, ${defaultServerConfig.maxConnections} here)`)
    .option('--max-connections-per-ip <n>', 'Connections open at once from one client IP; 0 no limit', { default: 0 })
    .option('--max-handshakes <n>', `Connections still in their handshake; when full, the oldest is dropped for each newcomer (default: a quarter of --max-connections, ${defaultServerConfig.maxPendingHandshakes} here)`)
    .option('--max-binds-per-ip <n>', 'BIND requests open at once from one client IP; 0 no limit', { default: defaultServerConfig.maxBindsPerIp })
    .option('--keepalive <duration, bare = s>', 'TCP keepalive on both legs of a relay: idle time before the first probe; 0 off', { default: '60s' })
    .option('--allow <rule>', 'Allow what the rule matches (repeatable; with --deny, first match wins), e.g. "to=10.0.0.0/8 port=22"')
    .option('--deny <rule>', 'Refuse what the rule matches with reply 0x02 (repeatable), e.g. "private", "to=*.internal", "from=192.0.2.0/24 cmd=bind"')
    .option('--upstream <url>', 'Send requests on through this proxy (socks5h://, socks5://, socks4a://, socks4://, http://, https://, with user:pass@); repeatable: a chain, first hop first. NAME=URL makes a named upstream that rules pick with via=NAME (default: none, direct)')
    .option('--lookup-timeout <duration, bare = ms>', 'Time a name lookup may take; then reply 0x04 (host unreachable)', { default: '5s' })
    .option('--grace <duration, bare = ms>', 'On SIGINT/SIGTERM, how long open connections may run before they are cut', { default: '5s' })
    .option('--workers <n|auto>', 'Processes serving the same listeners (Linux SO_REUSEPORT); auto: one per core this process may use (a CPU quota included). Per-IP caps, --max-connections and --max-handshakes are divided among them (README: "Workers")', { default: 1 })
    .option('--log-format <text|json>', 'The connection log: one line of text, or one JSON object, per connection (README: "Monitoring")', { default: 'text' })
    .option('--log-file <path>', 'Append the connection log to this file instead of stderr (status lines stay on stderr); reopened on SIGHUP, for logrotate')
    .option('--metrics <host:port>', 'Serve Prometheus metrics on http://HOST:PORT/metrics, with /healthz and /readyz (503 while draining); a bare port is on 127.0.0.1; default off')
    .option('-q, --quiet', 'Print only the ready line, warnings and errors (a --log-file still gets every connection)')
    .option('-v, --verbose', 'Also print handshake details')
    .example('socx serve -l 0.0.0.0:1080 --users ./users.txt')
    .action((cliRaw: Record<string, unknown>) => runServe(command, cliRaw, rulesFromArgv(cli.rawArgs)));
}

/** Reads the settings (defaults, config file, flags); --check-config prints them, else the server starts,
 * and SIGHUP reads them again the same way. */
function runServe(command: Command, cliRaw: Readonly<Record<string, unknown>>, argvRules: readonly string[]): number | Promise<number> {
  const loader = (settings: WorkerSettings) => (): { raw: Record<string, unknown>; options: ServeOptions } => {
    const merged = mergeServeRaw(command, settings.cliRaw);
    return { raw: merged.raw, options: parseMerged(merged, (raw) => parseServeOptions(raw, settings.argvRules)) };
  };
  const worker = workerNumber();
  if (worker !== undefined) return serveWorker(worker, (settings) => () => loader(settings)().options);
  const load = loader({ cliRaw, argvRules });
  const { raw, options } = load();
  if (flagOption(cliRaw.checkConfig)) {
    const kinds = new Map([...options.users].map(([name, stored]) => [name, typeof stored === 'string' ? 'plain' : 'scrypt']));
    process.stdout.write(formatEffectiveSettings(command, raw, kinds));
    return 0;
  }
  hideAuthFromPs();
  // The workers get the count the primary resolved ("auto"), over the config file's.
  if (options.workers > 1) return serveWithWorkers(options, () => load().options, { cliRaw: { ...cliRaw, workers: options.workers }, argvRules });
  return serve(options, () => load().options);
}

export function parseServeOptions(raw: Record<string, unknown>, argvRules: readonly string[] = []): ServeOptions {
  const listenTexts = listOption(raw.listen, 'listen');
  const noAuth = new Set(listOption(raw.noAuthListeners, 'listeners').map((text) => formatAddress(parseListenAddress(text))));
  const listen = markProxyProtocol((listenTexts.length > 0 ? listenTexts : ['127.0.0.1:1080']).map((text) => parseListenAddress(text))
    .map((address) => (noAuth.has(formatAddress(address)) ? { ...address, noAuth: true } : address)), raw);
  const proxyProtocolFrom = parseProxyProtocolFrom(raw, listen);
  const users = loadUsers(raw, process.env);
  // Open: reachable from elsewhere and nobody has to log in there (no users at all, or "auth: false").
  const exposed = listen.filter((address) => isExposed(address) && (users.size === 0 || address.noAuth === true));
  const openProxy = exposed.length > 0;
  if (openProxy && !flagOption(raw.allowOpenProxy)) {
    const fix = users.size === 0 ? 'add users (--auth user:pass or --users FILE), or pass' : 'it takes clients without a login (auth: false); pass';
    throw usageError(`refusing to run an open proxy on ${exposed.map(formatAddress).join(', ')}: ${fix} --allow-open-proxy if anyone who can reach it may use it`);
  }
  const egress = parseEgress(listOption(raw.egress, 'egress'));
  const policy = parsePolicy(argvRules, listOption(raw.rules, 'rules'));
  const workers = parseWorkers(raw.workers);
  const share = (cap: number): number => perWorker(cap, workers);
  return {
    listen,
    users,
    openProxy,
    graceMs: durationOption(raw.grace, 'grace', 'ms', { min: 0, max: HOUR }) ?? 5000,
    workers,
    quiet: flagOption(raw.quiet),
    verbose: flagOption(raw.verbose),
    logFormat: parseLogFormat(stringOption(raw.logFormat, 'log-format')),
    logFile: nonEmpty(stringOption(raw.logFile, 'log-file'), 'log-file'),
    metrics: raw.metrics === undefined ? undefined : parseListenAddress(nonEmpty(stringOption(raw.metrics, 'metrics'), 'metrics') ?? '', 'metrics', null),
    config: {
      authenticate: users.size > 0 ? usersAuthenticator(users) : undefined,
      egress,
      proxyProtocolFrom,
      socks4: raw.socks4 !== false,
      http: raw.http !== false,
      advertise: parseAdvertise(stringOption(raw.advertise, 'advertise')),
      commands: enabledCommands(raw),
      handshakeTimeoutMs: durationOption(raw.handshakeTimeout, 'handshake-timeout', 'ms', { min: 1, max: 5 * MINUTE }) ?? 10_000,
      connectTimeoutMs: durationOption(raw.connectTimeout, 'connect-timeout', 'ms', { min: 1, max: 5 * MINUTE }) ?? 10_000,
      bindTimeoutMs: durationOption(raw.bindTimeout, 'bind-timeout', 's', { min: 1, max: HOUR }) ?? 60_000,
      idleTimeoutMs: durationOption(raw.idleTimeout, 'idle-timeout', 's') ?? 0,
      udpIdleTimeoutMs: durationOption(raw.udpIdleTimeout, 'udp-idle-timeout', 's') ?? 120_000,
      udpPortRange: parsePortRange(stringOption(raw.udpPorts, 'udp-ports')),
      maxUdpAssociationsPerClient: share(integerOption(raw.maxUdpAssociations, 'max-udp-associations', 0) ?? 32),
      ...connectionLimits(raw, workers),
      policy,
      upstreams: parseUpstreams(listOption(raw.upstream, 'upstream'), policy),
      lookupTimeoutMs: durationOption(raw.lookupTimeout, 'lookup-timeout', 'ms', { min: 1, max: 5 * MINUTE }) ?? 5000,
      maxBindsPerIp: share(integerOption(raw.maxBindsPerIp, 'max-binds-per-ip', 0) ?? defaultServerConfig.maxBindsPerIp),
      keepAliveMs: durationOption(raw.keepalive, 'keepalive', 's', { min: 0, max: 2 * HOUR }) ?? defaultServerConfig.keepAliveMs,
    },
  };
}

/** Each worker's part of the caps given (the defaults come from the fd limit, which every process has whole). */
function connectionLimits(raw: Record<string, unknown>, workers: number): Pick<ServerConfig, 'maxConnections' | 'maxConnectionsPerIp' | 'maxPendingHandshakes'> {
  const given = integerOption(raw.maxConnections, 'max-connections', 0);
  const maxConnections = given === undefined ? defaultServerConfig.maxConnections : perWorker(given, workers);
  const derived = maxConnections === 0 || given === undefined ? defaultServerConfig.maxPendingHandshakes : Math.max(1, Math.floor(maxConnections / 4));
  const handshakes = integerOption(raw.maxHandshakes, 'max-handshakes', 1);
  return {
    maxConnections,
    maxConnectionsPerIp: perWorker(integerOption(raw.maxConnectionsPerIp, 'max-connections-per-ip', 0) ?? 0, workers),
    maxPendingHandshakes: handshakes === undefined ? derived : perWorker(handshakes, workers),
  };
}

const MAX_WORKERS = 256;

function parseWorkers(value: unknown): number {
  const text = stringOption(value, 'workers');
  if (text === undefined) return 1;
  if (text === 'auto') return Math.min(cpuBudget(), MAX_WORKERS);
  const count = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(count >= 1 && count <= MAX_WORKERS)) throw usageError(`--workers must be a whole number from 1 to ${MAX_WORKERS} or auto, not "${text}"`);
  return count;
}

function enabledCommands(raw: Record<string, unknown>): ServerConfig['commands'] {
  const commands: { -readonly [K in keyof ServerConfig['commands']]: CommandHandler } = {};
  if (raw.bind !== false) commands.bind = bindCommand;
  if (raw.udp !== false) commands.udp = udpCommand;
  return commands;
}

function parseLogFormat(text: string | undefined): ServeOptions['logFormat'] {
  if (text === undefined || text === 'text' || text === 'json') return text ?? 'text';
  throw usageError(`--log-format must be text or json, not "${text}"`);
}

function nonEmpty(text: string | undefined, name: string): string | undefined {
  if (text?.trim() === '') throw usageError(`--${name} needs a value`);
  return text;
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

