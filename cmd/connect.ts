import type { CAC } from 'cac';
import { namesNoAddress, openSession, type Trace } from '../lib/client/client.ts';
import { parseTarget } from '../lib/client/proxy-url.ts';
import { formatAddress, type Address } from '../lib/codec/address.ts';
import { flagOption } from './options.ts';
import { printStatus } from './output.ts';
import { describeChain, parseProxyOptions, traceOption, withProxyOptions, type ProxyOptions, type ProxyUse } from './proxy-options.ts';
import { relayStdio } from './stdio-relay.ts';

const CONNECT_USE: ProxyUse = { command: 'connect', chain: true };

export function registerConnect(cli: CAC): void {
  withProxyOptions(cli.command('connect <host> <port>', 'Connect stdin/stdout to HOST:PORT through the proxy, or a chain of proxies (nc-style; an ssh ProxyCommand)'), CONNECT_USE)
    .option('-v, --verbose', 'Print each handshake message sent and received (per hop in a chain) and the connection details on stderr')
    .example("ssh -o ProxyCommand='socx connect -x socks5h://127.0.0.1:1080 %h %p' user@host")
    .example('socx connect -x http://proxy.example:3128 -x socks5h://alice:s3cret@inner.example:1080 example.com 80')
    .action((host: string, port: string, raw: Record<string, unknown>) => {
      const target = parseTarget(host, port);
      const verbose = flagOption(raw.verbose);
      return connect({ ...parseProxyOptions(raw, process.env, CONNECT_USE), target, verbose, ...traceOption(verbose) });
    });
}

interface ConnectOptions extends ProxyOptions {
  readonly target: Address;
  readonly verbose: boolean;
  readonly trace?: Trace | undefined;
}

async function connect(options: ConnectOptions): Promise<number> {
  const session = await openSession('connect', options.target, options);
  if (options.verbose) printStatus(`connected to ${formatAddress(options.target)} through ${describeChain(options)} (proxy's side: ${namesNoAddress(session.bound) ? 'not reported' : formatAddress(session.bound)})`);
  // Bytes the target sent right behind the proxy's reply (an SSH banner, say) were read with it: they come first.
  return relayStdio(session.socket, session.head, formatAddress(options.target));
}
