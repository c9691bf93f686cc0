import { isIP } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { CAC } from 'cac';
import type { Trace } from '../lib/client/client.ts';
import { describeProxy, parseTarget } from '../lib/client/proxy-url.ts';
import { maxUdpPayload, openUdpSession, resolveUdpTarget, type UdpSession } from '../lib/client/udp.ts';
import { formatAddress, isUnspecified, type Address } from '../lib/codec/address.ts';
import { usageError } from '../lib/errors.ts';
import { parseListenAddress } from '../lib/server/listen-address.ts';
import { durationOption, flagOption, HOUR, integerOption, stringOption } from './options.ts';
import { flushStdout, printError, printStatus } from './output.ts';
import { parseProxyOptions, traceOption, withProxyOptions, type ProxyOptions, type ProxyUse } from './proxy-options.ts';

interface UdpSendOptions extends ProxyOptions {
  readonly target: Address;
  readonly data: Buffer | undefined;
  readonly count: number;
  readonly intervalMs: number;
  readonly waitMs: number;
  readonly hex: boolean;
  readonly local: { host: string; port: number } | undefined;
  readonly verbose: boolean;
  readonly trace?: Trace | undefined;
}

/** Sends go out in bursts of this many, with a turn of the event loop between, so replies are read while a
 * long --count is still sending and the socket buffer is not flooded. */
const BURST = 64;
/** A test tool, not a flood generator: beyond this a relay drops most of an unpaced burst anyway. */
const MAX_COUNT = 10_000;
const MAX_INTERVAL_MS = 60_000;

const UDP_USE: ProxyUse = { command: 'udp', chain: false };

export function registerUdpSend(cli: CAC): void {
  withProxyOptions(cli.command('udp-send <host> <port> [data]', "Send DATA (or all of stdin) as one datagram to HOST:PORT through the proxy's UDP relay (SOCKS5 UDP ASSOCIATE); print each reply's payload"), UDP_USE)
    .option('--count <n>', `Send the datagram N times (at most ${MAX_COUNT}); stderr then gets "sent N, received M"`, { default: 1 })
    .option('--interval <duration, bare = ms>', 'Time between two sends of --count; 0 sends as fast as the socket takes them', { default: '0ms' })
    .option('--wait <duration, bare = ms>', 'How long to wait for replies after the last send; 0 sends and exits', { default: '2s' })
    .option('--hex', 'Print each reply as one line of hex instead of its raw bytes')
    .option('--local <[ip:]port>', 'Send from this local UDP address and announce it in the request (default: a free port, announced as 0.0.0.0:0)')
    .option('-v, --verbose', "Print each handshake message sent and received, the association and each reply's source on stderr")
    .example("printf 'hello' | socx udp-send -x socks5h://127.0.0.1:1080 127.0.0.1 7")
    .action((host: string, port: string, data: unknown, raw: Record<string, unknown>) => udpSend(parseUdpSendOptions(host, port, data, raw)));
}

function parseUdpSendOptions(host: string, port: unknown, data: unknown, raw: Record<string, unknown>): UdpSendOptions {
  const localText = stringOption(raw.local, 'local');
  return {
    ...parseProxyOptions(raw, process.env, UDP_USE),
    ...traceOption(flagOption(raw.verbose)),
    target: parseTarget(String(host), String(port)),
    data: dataArgument(data, raw['--']),
    count: integerOption(raw.count, 'count', 1, MAX_COUNT) ?? 1,
    intervalMs: durationOption(raw.interval, 'interval', 'ms', { min: 0, max: MAX_INTERVAL_MS }, true) ?? 0,
    waitMs: durationOption(raw.wait, 'wait', 'ms', { min: 0, max: HOUR }) ?? 2000,
    hex: flagOption(raw.hex),
    local: localText === undefined ? undefined : parseLocal(localText),
    verbose: flagOption(raw.verbose),
  };
}

/** `--local [host:]port`: the host must be an IP address, the one the datagrams leave from. */
function parseLocal(text: string): { host: string; port: number } {
  const bad = usageError(`bad --local "${text}": expected [IP:]port, e.g. 5353, 127.0.0.1:5353 or [::1]:0`);
  if (/^\d+$/.test(text)) {
    const port = Number(text);
    if (port > 65535) throw bad;
    return { host: '0.0.0.0', port };
  }
  let local;
  try {
    local = parseListenAddress(text);
  } catch {
    throw bad;
  }
  if (isIP(local.host) === 0 || !/:\d+$/.test(text)) throw bad;
  return local;
}

/** DATA, or what follows `--` (so DATA may start with a dash: `socx udp-send HOST PORT -- -n`). */
function dataArgument(data: unknown, rest: unknown): Buffer | undefined {
  if (data !== undefined) return Buffer.from(String(data));
  if (Array.isArray(rest) && rest.length > 0) return Buffer.from(rest.map(String).join(' '));
  return undefined;
}

async function udpSend(options: UdpSendOptions): Promise<number> {
  const payload = options.data ?? await buffer(process.stdin);
  checkFits(options.target, payload);
  const target = await resolveUdpTarget(options.target, options);
  checkFits(target, payload);
  const session = await openUdpSession(options);
  try {
    if (options.verbose) printAssociation(session, options);
    let replies = 0;
    session.onDatagram((reply, from) => {
      replies++;
      if (options.verbose) printStatus(`reply ${replies}: ${reply.length} bytes from ${formatAddress(from)}`);
      process.stdout.write(options.hex ? `${reply.toString('hex')}\n` : reply);
    });
    await sendAll(session, target, payload, options.count, options.intervalMs);
    if (options.waitMs > 0) await waitOrEnd(session, options.waitMs);
    await flushStdout();
    // With --count, how many came back is the result: a relay drops datagrams without a word.
    const summary = options.count > 1 ? `sent ${options.count}, received ${replies}` : '';
    if (replies > 0 || options.waitMs === 0) {
      if (summary) printStatus(replies < options.count && options.intervalMs === 0 ? `${summary} (--interval MS paces the sends)` : summary);
      return 0;
    }
    const why = session.closeReason ?? `no reply from ${formatAddress(options.target)} within ${options.waitMs} ms`;
    printError(summary ? `${summary}: ${why}` : why);
    return 1;
  } finally {
    session.close();
  }
}

/** Waits `ms`, or less when the association ends first (the pending timer must not hold the process). */
async function waitOrEnd(session: UdpSession, ms: number): Promise<void> {
  const stop = new AbortController();
  try {
    await Promise.race([sleep(ms, undefined, { signal: stop.signal }), session.closed]);
  } finally {
    stop.abort();
  }
}

function checkFits(target: Address, payload: Buffer): void {
  const max = maxUdpPayload(target);
  if (payload.length > max) {
    throw usageError(`the payload is ${payload.length} bytes; one SOCKS5 UDP datagram to ${formatAddress(target)} carries at most ${max} (65507 less the RFC 1928 header)`);
  }
}

/** `count` datagrams, `intervalMs` apart (or in bursts when 0); resolves once the last has left, rejects with
 * the first send error. Stops early when the association ends. */
async function sendAll(session: UdpSession, target: Address, payload: Buffer, count: number, intervalMs: number): Promise<void> {
  let failure: Error | undefined;
  const onSent = (error: Error | null): void => { failure ??= error ?? undefined; };
  for (let i = 1; i < count; i++) {
    session.send(target, payload, onSent);
    if (intervalMs > 0) await waitOrEnd(session, intervalMs);
    else if (i % BURST === 0) await nextTurn();
    if (failure) throw failure;
  }
  await new Promise<void>((resolve) => session.send(target, payload, (error) => { onSent(error); resolve(); }));
  if (failure) throw failure;
}

function printAssociation(session: UdpSession, options: UdpSendOptions): void {
  const zeros = session.bound.type !== 'domain' && isUnspecified(session.bound) ? ` (BND.ADDR ${session.bound.host}: the proxy's own address)` : '';
  printStatus(`UDP association through ${describeProxy(options.proxy)}: relay ${formatAddress(session.relay)}${zeros}, sending from ${formatAddress(session.local)} (announced ${formatAddress(session.announced)})`);
}
