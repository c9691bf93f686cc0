import type { CAC } from 'cac';
import { openSession } from '../lib/client/client.ts';
import { describeProxy, parseTarget } from '../lib/client/proxy-url.ts';
import { formatAddress, type Address } from '../lib/codec/address.ts';
import { flagOption } from './options.ts';
import { printStatus } from './output.ts';
import { parseProxyOptions, withProxyOptions, type ProxyOptions } from './proxy-options.ts';
import { relayStdio } from './stdio-relay.ts';

export function registerConnect(cli: CAC): void {
  withProxyOptions(cli.command('connect <host> <port>', 'Connect stdin/stdout to HOST:PORT through the proxy (nc-style; an ssh ProxyCommand)'))
    .option('-v, --verbose', 'Print the connection details on stderr')
    .example("ssh -o ProxyCommand='socx connect -x socks5h://127.0.0.1:1080 %h %p' user@host")
    .action((host: string, port: string, raw: Record<string, unknown>) => {
      const target = parseTarget(host, port);
      return connect({ ...parseProxyOptions(raw), target, verbose: flagOption(raw.verbose) });
    });
}

interface ConnectOptions extends ProxyOptions {
  readonly target: Address;
  readonly verbose: boolean;
}

async function connect(options: ConnectOptions): Promise<number> {
  const session = await openSession('connect', options.target, options);
  if (options.verbose) printStatus(`connected to ${formatAddress(options.target)} through ${describeProxy(options.proxy)} (proxy's side: ${formatAddress(session.bound)})`);
  // Bytes the target sent right behind the proxy's reply (an SSH banner, say) were read with it: they come first.
  return relayStdio(session.socket, session.head, formatAddress(options.target));
}
