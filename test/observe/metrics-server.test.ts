/** The metrics port under a flood of idle connections: it holds 32 at once and closes the rest as they
 * arrive, so that they cannot take the descriptors the proxy's own connections need. */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { serveMetrics } from '../../lib/observe/metrics-server.ts';
import { Collector, connectTo } from '../helpers/net.ts';

const T = { timeout: 30_000 };
/** The cap, as the README states it. */
const MAX_METRICS_CONNECTIONS = 32;

async function healthz(port: number): Promise<string> {
  const c = new Collector(await connectTo('127.0.0.1', port));
  c.socket.end('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  return (await c.end()).toString().split('\r\n')[0] ?? '';
}

test('32 idle connections to the metrics port: a 33rd is closed at once; one freed, a scrape gets through', T, async () => {
  const metrics = await serveMetrics({ metrics: async () => '', contentType: 'text/plain; version=0.0.4; charset=utf-8' }, { unready: () => undefined }, '127.0.0.1', 0);
  const { port } = metrics.address;
  const idle: Socket[] = [];
  try {
    for (let i = 0; i < MAX_METRICS_CONNECTIONS; i++) idle.push(await connectTo('127.0.0.1', port));
    // The server accepts in arrival order: the 33rd is seen after the 32 are counted.
    const over = new Collector(await connectTo('127.0.0.1', port));
    assert.equal((await over.end()).length, 0, 'a connection over the cap is closed without an answer');
    over.socket.destroy();
    const freed = new Collector(idle.pop() ?? assert.fail('no idle connection'));
    freed.socket.destroy();
    await freed.close();
    // The server hears of the close on its next turn of the event loop; until then a newcomer is over the cap.
    let status = '';
    for (let attempt = 0; attempt < 50 && status === ''; attempt++) status = await healthz(port);
    assert.equal(status, 'HTTP/1.1 200 OK');
  } finally {
    for (const socket of idle) socket.destroy();
    metrics.close();
  }
});
