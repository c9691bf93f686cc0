import { directPath, proxyPath, type BenchPath } from '../../lib/bench/paths.ts';
import { startTargets, type Targets } from '../../lib/bench/targets.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { usersAuthenticator } from '../../lib/server/auth.ts';
import { SocksServer } from '../../lib/server/server.ts';

export interface BenchFixture {
  readonly targets: Targets;
  /** [direct, through a socx SocksServer that wants the login bench / "p@ss word"]. */
  readonly paths: BenchPath[];
  close(): Promise<void>;
}

/** The loopback targets in this process and a real SocksServer with one user in front of them. */
export async function startBenchFixture(): Promise<BenchFixture> {
  const targets = await startTargets();
  const server = new SocksServer({ authenticate: usersAuthenticator(new Map([['bench', 'p@ss word']])) });
  const [bound] = await server.listen([{ host: '127.0.0.1', port: 0 }]);
  const proxy = parseProxyUrl(`socks5h://bench:p%40ss%20word@127.0.0.1:${bound!.port}`);
  return {
    targets,
    paths: [directPath(targets, 5000), proxyPath(targets, proxy, { name: 'socx', timeoutMs: 5000 })],
    close: async () => {
      await server.close(0);
      await targets.close();
    },
  };
}
