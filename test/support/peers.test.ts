// Self-test of the test support: every peer really relays, byte-exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { SocksClient } from 'socks';
import {
  pythonWithSocks,
  startDante,
  startEchoServer,
  startHttpServer,
  startMicrosocks,
  startSinkServer,
  startSshd,
  startUdpEchoServer,
  type Peer,
} from './peers.ts';
import { run, startProcess } from './process.ts';

const T = { timeout: 60_000 };
const body = randomBytes(256 * 1024);

async function curl(proxyFlag: string, proxy: Peer, target: Peer, extra: string[] = []) {
  return run(
    'curl',
    ['-sS', '--fail', '--max-time', '10', proxyFlag, `${proxy.host}:${proxy.port}`, ...extra, `http://${target.host}:${target.port}/`],
    { timeoutMs: 15_000 },
  );
}

async function withPeers(fn: (stops: Array<() => Promise<void>>) => Promise<void>) {
  const stops: Array<() => Promise<void>> = [];
  try {
    await fn(stops);
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}

test('microsocks relays curl --socks5, with and without auth', T, () =>
  withPeers(async (stops) => {
    const web = await startHttpServer(body);
    stops.push(web.stop);
    const open = await startMicrosocks();
    stops.push(open.stop);
    const r = await curl('--socks5', open, web);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(body), 'body differs');

    const authed = await startMicrosocks({ user: 'alice', password: 's3cret' });
    stops.push(authed.stop);
    const ok = await curl('--socks5', authed, web, ['--proxy-user', 'alice:s3cret']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(ok.stdout.equals(body), 'body differs');
    const denied = await curl('--socks5', authed, web);
    assert.notEqual(denied.code, 0);
    assert.equal(web.requests(), 2);
  }),
);

test('dante relays curl --socks5 and --socks4, BIND and UDP ASSOCIATE', T, () =>
  withPeers(async (stops) => {
    const web = await startHttpServer(body);
    stops.push(web.stop);
    const dante = await startDante({ bind: true, udp: true });
    stops.push(dante.stop);
    // No --socks4a: Dante 1.4.2 has no SOCKS4a and treats 0.0.0.x as a literal address.
    for (const flag of ['--socks5', '--socks5-hostname', '--socks4']) {
      const r = await curl(flag, dante, web);
      assert.equal(r.code, 0, `${flag}: ${r.stderr}\n${dante.output()}`);
      assert.ok(r.stdout.equals(body), `${flag}: body differs`);
    }

    // BIND through Dante: a peer connects to the announced port and its bytes reach us.
    for (const type of [4, 5] as const) {
      const client = new SocksClient({
        proxy: { host: dante.host, port: dante.port, type },
        command: 'bind',
        destination: { host: '0.0.0.0', port: 0 },
        timeout: 5_000,
      });
      const bound = new Promise<{ remoteHost?: { port: number } }>((resolve) => client.once('bound', resolve));
      // Collect from inside the event: data may already be flowing when 'established' fires.
      const received = new Promise<string>((resolve, reject) => {
        client.once('established', ({ socket }) => {
          const chunks: Buffer[] = [];
          socket.on('data', (b: Buffer) => chunks.push(b));
          socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
          socket.on('error', reject);
        });
        client.once('error', reject);
      });
      client.connect();
      const announced = (await bound).remoteHost!.port;
      const peer = net.connect(announced, '127.0.0.1');
      peer.on('error', () => {});
      peer.end('via-bind');
      assert.equal(await received, 'via-bind', `SOCKS${type} BIND`);
    }

    const udp = await startUdpEchoServer();
    stops.push(udp.stop);
    const py = await pythonWithSocks();
    const script = [
      'import socks, socket, sys',
      's = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)',
      `s.set_proxy(socks.SOCKS5, '${dante.host}', ${dante.port})`,
      's.settimeout(5)',
      `s.sendto(b'ping-udp', ('${udp.host}', ${udp.port}))`,
      'sys.stdout.buffer.write(s.recvfrom(65535)[0])',
    ].join('\n');
    const r = await run(py, ['-c', script], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, `${r.stderr}\n${dante.output()}`);
    assert.equal(r.stdout.toString(), 'ping-udp');
  }),
);

test('sshd runs a command directly and through microsocks via ncat ProxyCommand', T, () =>
  withPeers(async (stops) => {
    const sshd = await startSshd();
    stops.push(sshd.stop);
    const direct = await run('ssh', [...sshd.sshArgs(), 'echo', 'hello'], { timeoutMs: 20_000 });
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(direct.stdout.toString(), 'hello\n');

    const socks = await startMicrosocks();
    stops.push(socks.stop);
    const proxy = `ncat --proxy ${socks.host}:${socks.port} --proxy-type socks5 %h %p`;
    const viaProxy = await run('ssh', [...sshd.sshArgs(proxy), 'echo', 'hello'], { timeoutMs: 20_000 });
    assert.equal(viaProxy.code, 0, viaProxy.stderr);
    assert.equal(viaProxy.stdout.toString(), 'hello\n');
  }),
);

test('echo server echoes and half-closes; sink counts', T, () =>
  withPeers(async (stops) => {
    const echo = await startEchoServer();
    stops.push(echo.stop);
    const got = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect(echo.port, echo.host);
      const chunks: Buffer[] = [];
      s.on('data', (b: Buffer) => chunks.push(b));
      s.on('end', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
      s.end(body);
    });
    assert.ok(got.equals(body));

    const sink = await startSinkServer();
    stops.push(sink.stop);
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(sink.port, sink.host);
      s.on('error', reject);
      s.on('close', () => resolve());
      s.resume();
      s.end(body);
    });
    assert.equal(sink.received(), body.length);
  }),
);

test('startProcess reports early exit, timeout and missing binaries with output', T, async () => {
  await assert.rejects(
    startProcess('sh', ['-c', 'echo boom >&2; exit 3'], { readyPattern: /never/, timeoutMs: 5_000 }),
    /exited early \(code 3[\s\S]*boom/,
  );
  await assert.rejects(
    startProcess('sh', ['-c', 'echo waiting; exec sleep 30'], { readyPattern: /never/, timeoutMs: 300 }),
    /not ready after 300 ms[\s\S]*waiting/,
  );
  await assert.rejects(
    startProcess('socx-no-such-binary', [], { timeoutMs: 1_000 }),
    /failed to start socx-no-such-binary.*ENOENT/,
  );
  const p = await startProcess('sh', ['-c', 'echo ready; exec sleep 30'], { readyPattern: /ready/, readyStream: 'stdout', timeoutMs: 5_000 });
  await p.stop();
  assert.equal(p.child.signalCode, 'SIGTERM');
});
