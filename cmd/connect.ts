import { Duplex } from 'node:stream';
import type { CAC } from 'cac';
import { openSession } from '../lib/client/client.ts';
import { describeProxy, parseTarget } from '../lib/client/proxy-url.ts';
import { formatAddress, type Address } from '../lib/codec/address.ts';
import { errnoCode, socketErrorText } from '../lib/errors.ts';
import { relay } from '../lib/relay.ts';
import { flagOption } from './options.ts';
import { printError, printStatus } from './output.ts';
import { parseProxyOptions, withProxyOptions, type ProxyOptions } from './proxy-options.ts';

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
  const stdio = Duplex.from({ readable: process.stdin, writable: process.stdout });
  // Bytes the target sent right behind the proxy's reply (an SSH banner, say) were read with it: they come first.
  const result = await relay(stdio, session.socket, { headB: session.head, finishWhenBEnds: true });
  if (result.reason === 'completed') return 0;
  const why = result.error ? socketErrorText(errnoCode(result.error)) : result.reason;
  printError(`connection to ${formatAddress(options.target)} ended: ${why}`);
  return 1;
}
