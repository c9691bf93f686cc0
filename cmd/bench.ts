import { isSea } from 'node:sea';
import type { CAC } from 'cac';
import { describeProxy, parseProxyUrl, withCredentials, type ProxyConfig } from '../lib/client/proxy-url.ts';
import { runBench, type BenchOptions, type ProxyUnderTest } from '../lib/bench/bench.ts';
import { CONNECTIONS_ROLE, serveConnectionLoad } from '../lib/bench/connection-load.ts';
import { killChildrenNow, TARGETS_ROLE_ENV, type SelfCommand } from '../lib/bench/processes.ts';
import { toJson, type BenchJson } from '../lib/bench/summary.ts';
import { cpuGrid, resultsGrid, tableNotes } from '../lib/bench/table.ts';
import { startTargets, targetPorts } from '../lib/bench/targets.ts';
import { MAX_BENCH_UDP_PAYLOAD, MIN_UDP_PAYLOAD, RING_SIZE } from '../lib/bench/udp.ts';
import { describeError, SocxError, usageError } from '../lib/errors.ts';
import { durationOption, flagOption, HOUR, integerOption, listOption, sizeOption, stringOption } from './options.ts';
import { printError, printStatus, stderrIsInteractive } from './output.ts';
import { startSpinner, type Spinner } from './spinner.ts';

/** After Ctrl-C, the longest bench waits for its measurements and children to stop before it exits anyway. */
const FORCED_EXIT_MS = 800;


interface BenchCommandOptions extends BenchOptions {
  readonly json: boolean;
}

export function registerBench(cli: CAC): void {
  cli
    .command('bench', 'Benchmark SOCKS and HTTP CONNECT proxies against the direct path: throughput, connection rate, latency')
    .option('-x, --proxy <url>', 'Proxy to measure, repeatable: each one is measured and compared, not chained (socks5h://, socks5://, socks4a://, socks4:// or http:// CONNECT, [user:pass@]host[:port]; it must run on this machine); default: start socx serve on a free loopback port')
    .option('-U, --proxy-user <user:pass>', 'Credentials for every -x proxy')
    .option('--label <name>', 'Name of the proxy in the same position as -x, repeatable; default: its URL')
    .option('--proxy-pid <pid>', 'PID of the proxy in the same position as -x, repeatable, to report its CPU use (Linux); default: found from the port of a loopback proxy')
    .option('--duration <duration, bare = s>', 'Length of each connection-rate run, and of each throughput run unless --bytes is given', { default: '2s' })
    .option('--bytes <size>', 'Bytes per throughput run instead of a duration: 65536, 64k, 256M, 1G')
    .option('--streams <n>', 'Parallel connections in the multi-stream throughput runs; 1 skips them', { default: 4 })
    .option('--concurrency <n>', 'Connections in flight at once in the connection-rate run', { default: 8 })
    .option('--messages <n>', 'Round trips in the latency run (and, one datagram at a time, in each UDP run)', { default: 2000 })
    .option('--message-size <size>', 'Size of each round-trip message: 64, 1k', { default: 64 })
    .option('--repeat <n>', 'Run each measurement N times; report the median and the spread', { default: 1 })
    .option('--udp', "Also measure each proxy's UDP relay (UDP ASSOCIATE) and the direct path: datagrams/s, MB/s, loss, round trips")
    .option('--udp-sizes <bytes,...>', 'Payload sizes of the UDP runs, in bytes', { default: '64,1200' })
    .option('--udp-window <n>', 'Datagrams in flight in the UDP rate runs', { default: 32 })
    .option('--json', 'Print one JSON object instead of tables')
    .option('--timeout <duration, bare = ms>', 'Limit on reaching a proxy, on each handshake step, and on any measurement that moves no data (one connection, one round trip, one stream)', { default: '10s' })
    .option('--in-process-targets', 'Run the loopback targets (sink, source, echo, ping, UDP echo) in this process rather than a child process')
    .example('socx bench -x socks5h://127.0.0.1:1080 --label dante -x socks5h://127.0.0.1:1081 --label microsocks --repeat 3')
    .example('socx bench --udp --udp-sizes 64,512,1200 -x socks5h://127.0.0.1:1080')
    .example('socx bench -x http://127.0.0.1:8888 --label tinyproxy -x socks5h://127.0.0.1:1080 --label socx')
    .action((raw: Record<string, unknown>) => {
      const role = process.env[TARGETS_ROLE_ENV];
      if (role === 'targets') return serveTargets();
      if (role === CONNECTIONS_ROLE) return serveConnectionLoad();
      return bench(parseBenchOptions(raw));
    });
}

function parseBenchOptions(raw: Record<string, unknown>): BenchCommandOptions {
  const labels = listOption(raw.label, 'label');
  const pids = listOption(raw.proxyPid, 'proxy-pid').map((pid) => integerOption(pid, 'proxy-pid', 1) ?? 0);
  const userPass = stringOption(raw.proxyUser, 'proxy-user');
  const urls = listOption(raw.proxy, 'proxy');
  const slots = Math.max(urls.length, 1);
  if (labels.length > slots) throw usageError(`${labels.length} --label for ${slots} proxies: give one per -x, in the same order`);
  if (pids.length > urls.length) throw usageError('--proxy-pid needs a -x in the same position');
  // Checked with or without --udp: a bad value is a mistake either way.
  const sizes = udpSizes(raw.udpSizes);
  const proxies = urls.map((url, index): ProxyUnderTest => ({
    proxy: benchable(withCredentials(parseProxyUrl(url), userPass)),
    label: labels[index],
    pid: pids[index],
  }));
  return {
    proxies,
    serveLabel: urls.length === 0 ? labels[0] : undefined,
    durationMs: durationOption(raw.duration, 'duration', 's', { min: 1, max: HOUR }) ?? 2000,
    bytes: sizeOption(raw.bytes, 'bytes'),
    streams: integerOption(raw.streams, 'streams', 1, 256) ?? 4,
    concurrency: integerOption(raw.concurrency, 'concurrency', 1, 1024) ?? 8,
    messages: integerOption(raw.messages, 'messages', 1, 10_000_000) ?? 2000,
    messageSize: sizeOption(raw.messageSize, 'message-size', { min: 1, max: 1024 * 1024 }) ?? 64,
    repeat: integerOption(raw.repeat, 'repeat', 1, 100) ?? 1,
    timeoutMs: durationOption(raw.timeout, 'timeout', 'ms', { min: 1, max: HOUR }) ?? 10_000,
    udpSizes: flagOption(raw.udp) ? sizes : [],
    udpWindow: integerOption(raw.udpWindow, 'udp-window', 1, RING_SIZE / 4) ?? 32,
    inProcessTargets: flagOption(raw.inProcessTargets),
    json: flagOption(raw.json),
    self: selfCommand(),
  };
}

/** The connection-rate generator writes the handshake straight to TCP: no TLS to the proxy. */
function benchable(proxy: ProxyConfig): ProxyConfig {
  if (proxy.kind === 'http' && proxy.tls) throw usageError(`bench measures HTTP proxies in plain TCP: ${describeProxy(proxy)} (TLS to the proxy) is not supported; give http://`);
  return proxy;
}

function udpSizes(raw: unknown): number[] {
  const text = stringOption(raw, 'udp-sizes') ?? '64,1200';
  return text.split(',').map((part) => {
    const size = Number(part.trim());
    if (!Number.isInteger(size) || size < MIN_UDP_PAYLOAD || size > MAX_BENCH_UDP_PAYLOAD) {
      throw usageError(`--udp-sizes takes payload sizes of ${MIN_UDP_PAYLOAD}-${MAX_BENCH_UDP_PAYLOAD} bytes, separated by commas, not "${text}"`);
    }
    return size;
  });
}

/** This program again: in the single executable, the executable is socx; from the bundle or the sources, node
 * runs the same script. */
function selfCommand(): SelfCommand {
  const script = process.argv[1];
  return isSea() || script === undefined ? { file: process.execPath, args: [] } : { file: process.execPath, args: [script] };
}

/** A spinner on a terminal; elsewhere (a pipe, a file, NO_COLOR) one plain line per step, so that a log shows
 * where a long run is. */
async function startProgress(): Promise<Spinner> {
  if (stderrIsInteractive() && process.stderr.columns) return startSpinner('starting');
  return { update: (text) => printStatus(text), stop: () => {} };
}

async function bench(options: BenchCommandOptions): Promise<number> {
  const spinner = await startProgress();
  const abort = new AbortController();
  const interrupt = (): void => {
    abort.abort();
    // Every measurement stops on the signal and bench stops its children; should anything still hang on a
    // socket or a child, bench is gone within a second all the same.
    setTimeout(() => {
      killChildrenNow();
      printError('interrupted');
      process.exit(130);
    }, FORCED_EXIT_MS).unref();
  };
  // SIGHUP too: a closed terminal must not leave bench's socx serve behind, which takes SIGHUP as a reload.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const signal of signals) process.once(signal, interrupt);
  try {
    const run = await runBench(options, { onProgress: spinner.update, signal: abort.signal });
    spinner.stop();
    const json = toJson(run);
    if (options.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    else await printTables(json);
    return 0;
  } catch (error) {
    spinner.stop();
    if (abort.signal.aborted) {
      printError('interrupted');
      // Whatever was in flight may still hold a socket open; do not wait for it.
      process.exit(130);
    }
    if (error instanceof SocxError && error.code === 'request-rejected') {
      printError(describeError(error));
      printStatus("bench's targets listen on 127.0.0.1: the proxy must run on this machine and allow connections to loopback");
      return 4;
    }
    throw error;
  } finally {
    for (const signal of signals) process.off(signal, interrupt);
  }
}

async function printTables(json: BenchJson): Promise<void> {
  const { default: Table } = await import('cli-table3');
  for (const grid of [resultsGrid(json), cpuGrid(json)]) {
    // No colour: this goes to stdout, which may well be a file.
    const table = new Table({ head: grid.header, style: { head: [], border: [] }, colAligns: grid.header.map((_, i) => (i === 0 ? 'left' : 'right')) });
    table.push(...grid.rows);
    process.stdout.write(`${table.toString()}\n`);
  }
  process.stdout.write(`${tableNotes(json)} ${json.machine.cpus} cores, node ${json.machine.node}.\n`);
}

/** The targets' process (see lib/bench/processes.ts): prints its ports, serves until its stdin closes. */
async function serveTargets(): Promise<number> {
  const targets = await startTargets();
  process.stdout.write(`${JSON.stringify(targetPorts(targets))}\n`);
  await new Promise<void>((resolve) => {
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
    process.stdin.resume();
  });
  await targets.close();
  return 0;
}
