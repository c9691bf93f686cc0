/** ServerMetrics in process: what a record, a limit hit before any record, and a lookup become. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { toAddress } from '../../lib/codec/address.ts';
import { MAX_RULE_LABELS, ServerMetrics } from '../../lib/observe/metrics.ts';
import { createRegistry } from '../../lib/observe/registry.ts';
import { Policy } from '../../lib/policy/policy.ts';
import type { ServerConfig } from '../../lib/server/types.ts';
import { startEcho, type EchoServer } from '../helpers/net.ts';
import { greet, request5, startSocksServer, type TestServer } from '../helpers/socks.ts';

const T = { timeout: 20_000 };
let echo: EchoServer;
before(async () => { echo = await startEcho(); });
after(() => echo.close());

async function observed(config: Partial<ServerConfig>): Promise<{ server: TestServer; scrape(): Promise<string> }> {
  const metrics = new ServerMetrics(createRegistry());
  const server = await startSocksServer({
    ...config,
    onConnectionStart: () => metrics.connectionStarted(),
    onConnection: (record) => metrics.connectionEnded(record),
    onLookup: (source, error, ms) => metrics.lookup(source, error, ms),
  });
  metrics.watch(server.server);
  return { server, scrape: () => metrics.registry.metrics() };
}

const value = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('a connection refused at accept (per-IP limit) is a limit hit, not an accepted connection', T, async () => {
  const { server, scrape } = await observed({ maxConnectionsPerIp: 1 });
  try {
    const first = await server.client();
    first.socket.write(Buffer.from([5]));
    // Reset at once: the connect itself may fail with ECONNRESET.
    await server.client().then((second) => second.end(), () => {});
    const text = await scrape();
    assert.equal(value(text, 'socx_limit_hits_total{limit="max-connections-per-ip"}'), 1);
    assert.equal(value(text, 'socx_connections_accepted_total'), 1);
    assert.equal(value(text, 'socx_connections_active'), 1);
    assert.equal(value(text, 'socx_handshakes_active'), 1);
  } finally {
    await server.close();
  }
});

test('a name from the hosts file is counted by source; every source is there from the start', T, async () => {
  const { server, scrape } = await observed({});
  try {
    assert.equal(value(await scrape(), 'socx_dns_lookups_total{source="hosts"}'), 0);
    const c = await server.client();
    await greet(c);
    assert.equal((await request5(c, toAddress('localhost', echo.port))).reply.reply, 0);
    c.socket.end();
    await server.record(0);
    const text = await scrape();
    assert.equal(value(text, 'socx_dns_lookups_total{source="hosts"}'), 1);
    assert.equal(value(text, 'socx_dns_lookups_total{source="query"}'), 0);
    assert.equal(value(text, 'socx_connect_duration_seconds_count'), 1);
    assert.equal(value(text, 'socx_handshakes_total{version="5",method="none"}'), 1);
  } finally {
    await server.close();
  }
});

test(`rule labels are capped at ${MAX_RULE_LABELS}, the rest counted as "other"`, T, async () => {
  const rules = Array.from({ length: MAX_RULE_LABELS + 2 }, (_, i) => `deny port=${i + 1}`);
  const { server, scrape } = await observed({ policy: Policy.parse(rules) });
  try {
    for (let port = 1; port <= rules.length; port++) {
      const c = await server.client();
      await greet(c);
      assert.equal((await request5(c, toAddress('127.0.0.1', port))).reply.reply, 2);
      await server.record(port - 1);
    }
    const text = await scrape();
    assert.equal(value(text, 'socx_rule_refusals_total{rule="deny port=1"}'), 1);
    assert.equal(value(text, `socx_rule_refusals_total{rule="deny port=${MAX_RULE_LABELS}"}`), 1);
    assert.equal(value(text, `socx_rule_refusals_total{rule="deny port=${MAX_RULE_LABELS + 1}"}`), undefined);
    assert.equal(value(text, 'socx_rule_refusals_total{rule="other"}'), 2);
    assert.equal(value(text, 'socx_connections_total{outcome="refused-rule"}'), rules.length);
  } finally {
    await server.close();
  }
});
