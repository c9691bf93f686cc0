/** Servers chained with serve --upstream, in process: the settings as serve parses them. */
import { Policy } from '../../lib/policy/policy.ts';
import type { ServerConfig } from '../../lib/server/types.ts';
import { parseUpstreams } from '../../cmd/serve-upstreams.ts';
import { startSocksServer, type TestServer } from '../helpers/socks.ts';

/** `--upstream` values and `--allow`/`--deny` rules ("allow …", "deny …") as one server config. */
export function routing(upstreams: readonly string[], rules: readonly string[] = []): Pick<ServerConfig, 'policy' | 'upstreams'> {
  const policy = Policy.parse(rules);
  return { policy, upstreams: parseUpstreams(upstreams, policy) };
}

/** A server that sends everything on through `upstreams`. */
export function startChained(upstreams: readonly string[], config: Partial<ServerConfig> = {}, rules: readonly string[] = []): Promise<TestServer> {
  return startSocksServer({ ...config, ...routing(upstreams, rules) });
}

export const socksUrl = (server: { port: number }, scheme = 'socks5h', credentials = ''): string => `${scheme}://${credentials}127.0.0.1:${server.port}`;
