import { isIP } from 'node:net';
import type { CAC, Command } from 'cac';
import { formatAddress, isUnspecified, toAddress } from '../lib/codec/address.ts';
import { cpuBudget } from '../lib/cpu-budget.ts';
import { Policy } from '../lib/policy/policy.ts';
import { usageError } from '../lib/errors.ts';
import { usersAuthenticator, type StoredPassword } from '../lib/server/auth.ts';
import { isExposed, parseEgress, parseListenAddress } from '../lib/server/listen-address.ts';
import { defaultServerConfig, type ListenAddress } from '../lib/server/server.ts';
import type { CommandHandler, ServerConfig } from '../lib/server/types.ts';
import { egressProblem } from '../lib/server/udp-association.ts';
import { udpCommand } from '../lib/server/udp-command.ts';
import { bindCommand } from '../lib/server/bind-command.ts';
import { workerNumber } from '../lib/server/worker-child.ts';
import { perWorker } from '../lib/server/workers.ts';
import { flagOption, HOUR, integerOption, listOption, MINUTE } from './options.ts';
import { formatEffectiveSettings, markedListeners, mergeServeRaw, parseMerged } from './serve-config.ts';
import { effectiveRules, rulesFromArgv } from './serve-rules.ts';
import { markProxyProtocol, parseProxyProtocolFrom } from './serve-proxy-protocol.ts';
import { checkServe, serve } from './serve-run.ts';
import { SettingsReader, type ShownSettings } from './serve-settings.ts';
import { parseUpstreams, shownUpstream } from './serve-upstreams.ts';
import { hideAuthFromPs, loadUsers, maskCredential } from './serve-users.ts';
import { serveWithWorkers, serveWorker, type WorkerSettings } from './serve-workers.ts';
import { loadWithFiles } from './settings-files.ts';

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
  /** What --check-config prints: these settings as a config file writes them, defaults included. */
  readonly settings: ShownSettings;
}

export function registerServe(cli: CAC): void {
  // Defaults are applied by mergeServeRaw, under the config file's values (cac's would hide them).
  const command: Command = cli.command('serve', 'Run a SOCKS4/4a/5 proxy server', { ignoreOptionDefaultValue: true });
  command
    .option('--config <file>', 'Read settings from this YAML file (README: "Config file"); flags given here override it')
    .option('--check-config', 'Do what serve does up to listening (read the settings, open --log-file for appending), print the settings it would run with (passwords masked) and exit: 0 valid, 2 not')
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

/** Reads the settings (defaults, config file, flags); --check-config goes as far as serve does before it
 * listens and prints them, else the server starts, and SIGHUP reads them again the same way. */
function runServe(command: Command, cliRaw: Readonly<Record<string, unknown>>, argvRules: readonly string[]): number | Promise<number> {
  const loader = (settings: Omit<WorkerSettings, 'files'>) => (): ServeOptions =>
    parseMerged(mergeServeRaw(command, settings.cliRaw), (raw) => parseServeOptions(raw, settings.argvRules));
  const worker = workerNumber();
  if (worker !== undefined) return serveWorker(worker, loader);
  const { value: options, files } = loadWithFiles(loader({ cliRaw, argvRules }));
  return egressProblem(options.config.egress).then((problem) => {
    if (problem !== undefined) throw usageError(problem);
    if (flagOption(cliRaw.checkConfig)) {
      return checkServe(options).then(() => {
        process.stdout.write(formatEffectiveSettings(command, options.settings));
        return 0;
      });
    }
    hideAuthFromPs();
    // The count resolved at start ("auto" included) stays over the config file's, for the workers and for
    // SIGHUP: a changed `workers:` needs a restart, and the caps must stay divided by the processes running.
    const running: WorkerSettings = { cliRaw: { ...cliRaw, workers: options.workers }, argvRules, files };
    if (options.workers > 1) return serveWithWorkers(options, () => loadWithFiles(loader(running)), running);
    return serve(options, loader(running));
  });
}

export function parseServeOptions(raw: Record<string, unknown>, argvRules: readonly string[] = []): ServeOptions {
  const read = new SettingsReader(raw);
  const listenTexts = listOption(raw.listen, 'listen');
  const noAuth = markedListeners(raw.noAuthListeners);
  const listen = markProxyProtocol((listenTexts.length > 0 ? listenTexts : ['127.0.0.1:1080']).map((text) => parseListenAddress(text))
    .map((address, position) => (noAuth.has(position) ? { ...address, noAuth: true } : address)), raw);
  const everyProxyProtocol = read.flag('proxy-protocol');
  read.show(...shownListeners(listen, everyProxyProtocol));
  const proxyProtocolFrom = parseProxyProtocolFrom(read.list('proxy-protocol-from'), listen);
  const users = loadUsers(raw, process.env);
  read.show('users-file', read.text('users'));
  read.list('auth', maskCredential);
  read.showAs('users', users, users.size > 0 ? Object.fromEntries([...users].map(([name, stored]) => [name, `*** (${typeof stored === 'string' ? 'plain' : 'scrypt'})`])) : undefined);
  // Open: reachable from elsewhere and nobody has to log in there (no users at all, or "auth: false").
  const exposed = listen.filter((address) => isExposed(address) && (users.size === 0 || address.noAuth === true));
  const openProxy = exposed.length > 0;
  const allowOpenProxy = read.flag('allow-open-proxy');
  if (openProxy && !allowOpenProxy) {
    const fix = users.size === 0 ? 'add users (--auth user:pass or --users FILE), or pass' : 'it takes clients without a login (auth: false); pass';
    throw usageError(`refusing to run an open proxy on ${exposed.map(formatAddress).join(', ')}: ${fix} --allow-open-proxy if anyone who can reach it may use it`);
  }
  const egress = parseEgress(read.list('egress'));
  const policy = Policy.parse(read.show('rules', effectiveRules(argvRules, listOption(raw.rules, 'rules'))));
  const workers = read.show('workers', parseWorkers(read.text('workers')));
  const share = (cap: number): number => perWorker(cap, workers);
  const metrics = read.value('metrics') === undefined ? undefined : parseListenAddress(nonBlank(read.text('metrics'), 'metrics') ?? '', 'metrics', null);
  return {
    listen,
    users,
    openProxy,
    graceMs: read.duration('grace', 'ms', 5000, { min: 0, max: HOUR }),
    workers,
    quiet: read.flag('quiet'),
    verbose: read.flag('verbose'),
    logFormat: read.show('log-format', parseLogFormat(read.text('log-format'))),
    logFile: nonBlank(read.string('log-file'), 'log-file'),
    metrics: read.showAs('metrics', metrics, metrics && formatAddress(metrics)),
    config: {
      authenticate: users.size > 0 ? usersAuthenticator(users) : undefined,
      egress,
      proxyProtocolFrom,
      socks4: read.on('socks4'),
      http: read.on('http'),
      advertise: parseAdvertise(read.string('advertise')),
      commands: enabledCommands(read),
      handshakeTimeoutMs: read.duration('handshake-timeout', 'ms', 10_000, { min: 1, max: 5 * MINUTE }),
      connectTimeoutMs: read.duration('connect-timeout', 'ms', 10_000, { min: 1, max: 5 * MINUTE }),
      bindTimeoutMs: read.duration('bind-timeout', 's', 60_000, { min: 1, max: HOUR }),
      idleTimeoutMs: read.duration('idle-timeout', 's', 0),
      udpIdleTimeoutMs: read.duration('udp-idle-timeout', 's', 120_000),
      udpPortRange: parsePortRange(read.string('udp-ports')),
      maxUdpAssociationsPerClient: share(read.integer('max-udp-associations', 0, 32)),
      ...connectionLimits(read, workers),
      policy,
      upstreams: parseUpstreams(read.list('upstream', shownUpstream), policy),
      lookupTimeoutMs: read.duration('lookup-timeout', 'ms', 5000, { min: 1, max: 5 * MINUTE }),
      maxBindsPerIp: share(read.integer('max-binds-per-ip', 0, defaultServerConfig.maxBindsPerIp)),
      keepAliveMs: read.duration('keepalive', 's', defaultServerConfig.keepAliveMs, { min: 0, max: 2 * HOUR }),
    },
    settings: read.shown,
  };
}

/** The listeners as the file writes them: `listen:` addresses, or `listeners:` when one has a setting of its
 * own (`auth: false`; `proxy-protocol: true` unless every listener has it). */
function shownListeners(listen: readonly ListenAddress[], everyProxyProtocol: boolean): [string, unknown] {
  const own = (address: ListenAddress): Record<string, boolean> => ({
    ...(address.noAuth === true ? { auth: false } : {}),
    ...(address.proxyProtocol === true && !everyProxyProtocol ? { 'proxy-protocol': true } : {}),
  });
  const settings = listen.map(own);
  if (settings.some((setting) => Object.keys(setting).length > 0)) {
    return ['listeners', listen.map((address, i) => (Object.keys(settings[i]!).length > 0 ? { address: formatAddress(address), ...settings[i] } : formatAddress(address)))];
  }
  const addresses = listen.map(formatAddress);
  return ['listen', addresses.length === 1 ? addresses[0] : addresses];
}

/** Each worker's part of the caps given (the defaults come from the fd limit, which every process has whole).
 * Shown are the totals, the values that give each worker its part again. */
function connectionLimits(read: SettingsReader, workers: number): Pick<ServerConfig, 'maxConnections' | 'maxConnectionsPerIp' | 'maxPendingHandshakes'> {
  const given = integerOption(read.value('max-connections'), 'max-connections', 0);
  const maxConnections = given === undefined ? defaultServerConfig.maxConnections : perWorker(given, workers);
  const derived = maxConnections === 0 || given === undefined ? defaultServerConfig.maxPendingHandshakes : Math.max(1, Math.floor(maxConnections / 4));
  const handshakes = integerOption(read.value('max-handshakes'), 'max-handshakes', 1);
  read.showAs('max-connections', undefined, given ?? maxConnections * workers);
  read.showAs('max-handshakes', undefined, handshakes ?? derived * workers);
  return {
    maxConnections,
    maxConnectionsPerIp: perWorker(read.integer('max-connections-per-ip', 0, 0), workers),
    maxPendingHandshakes: handshakes === undefined ? derived : perWorker(handshakes, workers),
  };
}

const MAX_WORKERS = 256;

function parseWorkers(text: string | undefined): number {
  if (text === undefined) return 1;
  if (text === 'auto') return Math.min(cpuBudget(), MAX_WORKERS);
  const count = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(count >= 1 && count <= MAX_WORKERS)) throw usageError(`--workers must be a whole number from 1 to ${MAX_WORKERS} or auto, not "${text}"`);
  return count;
}

function enabledCommands(read: SettingsReader): ServerConfig['commands'] {
  const commands: { -readonly [K in keyof ServerConfig['commands']]: CommandHandler } = {};
  if (read.on('bind')) commands.bind = bindCommand;
  if (read.on('udp')) commands.udp = udpCommand;
  return commands;
}

function parseLogFormat(text: string | undefined): ServeOptions['logFormat'] {
  if (text === undefined || text === 'text' || text === 'json') return text ?? 'text';
  throw usageError(`--log-format must be text or json, not "${text}"`);
}

function nonBlank(text: string | undefined, name: string): string | undefined {
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

