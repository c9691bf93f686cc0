import type { CAC } from 'cac';
import { acceptPeer, requestBind, requireConnectablePort } from '../lib/client/bind.ts';
import type { Trace } from '../lib/client/client.ts';
import { parseTarget } from '../lib/client/proxy-url.ts';
import { formatAddress, type Address } from '../lib/codec/address.ts';
import { durationOption, flagOption, HOUR } from './options.ts';
import { printStatus, printStatusJson } from './output.ts';
import { parseProxyOptions, traceOption, withProxyOptions, type ProxyOptions, type ProxyUse } from './proxy-options.ts';
import { relayStdio } from './stdio-relay.ts';

const BIND_USE: ProxyUse = { command: 'bind', chain: true };

export function registerBind(cli: CAC): void {
  withProxyOptions(cli.command('bind <host> <port>', 'Have the proxy (the last of a chain) accept one connection from HOST:PORT (SOCKS BIND; "0.0.0.0 0" accepts any peer), then relay it with stdin/stdout'), BIND_USE)
    .option('--wait <duration, bare = s>', 'How long to wait for the peer once the proxy listens; no peer before the deadline is exit 1 (a proxy that gives up first and says so is exit 4)', { default: '120s' })
    .option('-v, --verbose', 'Print each handshake message sent and received (per hop in a chain) on stderr')
    .option('--json', 'Status lines on stderr as JSON: {"event":"bound","host":…,"port":…}, then {"event":"peer",…}')
    .example('socx bind -x socks5h://proxy:1080 0.0.0.0 0 > received.bin   # stderr: "bound HOST:PORT"; the peer then runs: nc HOST PORT < file')
    .action((host: string, port: string, raw: Record<string, unknown>) => bind({
      ...parseProxyOptions(raw, process.env, BIND_USE),
      ...traceOption(flagOption(raw.verbose)),
      peer: parseTarget(host, port, { allowZero: true }),
      waitMs: durationOption(raw.wait, 'wait', 's', { min: 1, max: HOUR }) ?? 120_000,
      json: flagOption(raw.json),
    }));
}

interface BindOptions extends ProxyOptions {
  /** The peer expected to connect. */
  readonly peer: Address;
  readonly waitMs: number;
  readonly json: boolean;
  readonly trace?: Trace | undefined;
}

async function bind(options: BindOptions): Promise<number> {
  const pending = await requestBind(options.peer, options);
  requireConnectablePort(pending, options);
  report(options, 'bound', pending.address);
  const { socket, peer, head } = await acceptPeer(pending, options, options.waitMs);
  report(options, 'peer', peer);
  return relayStdio(socket, head, formatAddress(peer));
}

function report({ json }: BindOptions, event: 'bound' | 'peer', address: Address): void {
  if (json) printStatusJson({ event, host: address.host, port: address.port });
  else printStatus(`${event} ${formatAddress(address)}`);
}
