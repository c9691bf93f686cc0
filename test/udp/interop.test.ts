/** UDP ASSOCIATE with real peers: socx udp-send through Dante's UDP relay; PySocks and the npm `socks`
 * library (associate + createUDPFrame/parseUDPFrame) as clients of socx serve. Missing peers fail, never skip
 * (.ci/run installs them). */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { SocksClient, type SocksProxy } from 'socks';
import { canonicalIp } from '../../lib/codec/ip.ts';
import { pythonWithSocks, startDante, startUdpEchoServer, type Peer } from '../support/peers.ts';
import { run } from '../support/process.ts';
import { socx, startServe, startUdpEcho, TestUdp, waitForOutput, type Serve } from './udp-helpers.ts';

const T = { timeout: 60_000 };

describe('socx udp-send → Dante UDP relay', () => {
  let dante: Peer & { output(): string };
  let echo: Peer;
  before(async () => {
    dante = await startDante({ udp: true });
    echo = await startUdpEchoServer();
  });
  after(async () => {
    await dante.stop();
    await echo.stop();
  });

  test('text, 1,200 binary bytes byte-exact, and --count 20 all back', T, async () => {
    const proxy = `socks5://${dante.host}:${dante.port}`;
    const text = await socx(['udp-send', '-x', proxy, '--wait', '1000', echo.host, String(echo.port), 'via dante']);
    assert.equal(text.code, 0, `${text.stderr}\n${dante.output()}`);
    assert.equal(text.stdout.toString(), 'via dante');
    const payload = randomBytes(1200);
    const binary = await socx(['udp-send', '-x', proxy, '--wait', '1000', echo.host, String(echo.port)], payload);
    assert.equal(binary.code, 0, binary.stderr);
    assert.ok(binary.stdout.equals(payload), `got ${binary.stdout.length} bytes`);
    const many = await socx(['udp-send', '-x', proxy, '--count', '20', '--hex', '--wait', '1000', echo.host, String(echo.port), 'n']);
    assert.equal(many.code, 0, many.stderr);
    assert.equal(many.stdout.toString(), '6e\n'.repeat(20));
  });

  test('socks5h://: Dante resolves the name in the datagram header', T, async () => {
    const r = await socx(['udp-send', '-v', '-x', `socks5h://${dante.host}:${dante.port}`, '--wait', '1000', 'localhost', String(echo.port), 'by name']);
    assert.equal(r.code, 0, `${r.stderr}\n${dante.output()}`);
    assert.equal(r.stdout.toString(), 'by name');
    assert.match(r.stderr, /reply 1: 7 bytes from 127\.0\.0\.1:\d+/);
  });
});

describe('PySocks as the UDP client of socx serve', () => {
  let open: Serve;
  let authed: Serve;
  let echo: TestUdp;
  before(async () => {
    open = await startServe();
    authed = await startServe(['--auth', 'alice:s3cret']);
    echo = await startUdpEcho();
  });
  after(async () => {
    await open.stop();
    await authed.stop();
    echo.close();
  });

  /** PySocks sends stdin as one datagram via sendto() and writes the reply to stdout. */
  async function pysocks(serve: Serve, payload: Buffer, auth = ''): Promise<Buffer> {
    const py = await pythonWithSocks();
    const script = [
      'import socks, socket, sys',
      's = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)',
      `s.set_proxy(socks.SOCKS5, '127.0.0.1', ${serve.port}${auth})`,
      's.settimeout(5)',
      `s.sendto(sys.stdin.buffer.read(), ('127.0.0.1', ${echo.port}))`,
      'data, source = s.recvfrom(65535)',
      'sys.stderr.write("%s:%d" % source)',
      'sys.stdout.buffer.write(data)',
    ].join('\n');
    const r = await run(py, ['-c', script], { input: payload, timeoutMs: 15_000 });
    assert.equal(r.code, 0, `${r.stderr}\n${serve.output()}`);
    assert.equal(r.stderr, `127.0.0.1:${echo.port}`, 'the reply names the target as its source');
    return r.stdout;
  }

  test('text and 1,200 binary bytes, without auth', T, async () => {
    assert.equal((await pysocks(open, Buffer.from('ping-pysocks'))).toString(), 'ping-pysocks');
    const payload = randomBytes(1200);
    assert.ok((await pysocks(open, payload)).equals(payload));
    // PySocks announces DST.ADDR as the name "0" and its real port; the association takes that port.
    await waitForOutput(open, /socks5 udp 0:\d+ ok up=12B down=12B \S+ udp_up=1 udp_down=1 dropped=0/);
  });

  test('with username/password', T, async () => {
    const payload = randomBytes(1200);
    assert.ok((await pysocks(authed, payload, ", username='alice', password='s3cret'")).equals(payload));
    await waitForOutput(authed, /socks5 udp 0:\d+ user="alice" ok up=1\.2KiB down=1\.2KiB/);
  });
});

describe('npm socks (SocksClient associate + createUDPFrame/parseUDPFrame) against socx serve', () => {
  let open: Serve;
  let authed: Serve;
  let echo4: TestUdp;
  let echo6: TestUdp;
  before(async () => {
    open = await startServe();
    authed = await startServe(['--auth', 'alice:s3cret']);
    echo4 = await startUdpEcho('127.0.0.1');
    echo6 = await startUdpEcho('::1');
  });
  after(async () => {
    await open.stop();
    await authed.stop();
    echo4.close();
    echo6.close();
  });

  async function roundTrip(proxy: SocksProxy, target: { host: string; port: number }, payload: Buffer): Promise<void> {
    // createConnection() accepts only 'connect'; associate goes through the event API.
    const socks = new SocksClient({ proxy, command: 'associate', destination: { host: '0.0.0.0', port: 0 }, timeout: 5000 });
    const info = await new Promise<{ socket: Socket; remoteHost?: { host: string; port: number } | undefined }>((resolve, reject) => {
      socks.once('established', resolve);
      socks.once('error', reject);
      socks.connect();
    });
    const client = await TestUdp.bind('127.0.0.1');
    try {
      const relay = info.remoteHost;
      assert.ok(relay, 'associate reports the relay');
      assert.equal(relay.host, '127.0.0.1');
      await client.send(SocksClient.createUDPFrame({ remoteHost: target, data: payload }), relay.port, relay.host);
      const frame = SocksClient.parseUDPFrame((await client.nth(0)).msg);
      assert.ok(frame.data.equals(payload), 'payload differs');
      // The library spells IPv6 in full ("0000:…:0001").
      assert.deepEqual({ host: canonicalIp(frame.remoteHost.host), port: frame.remoteHost.port }, target);
    } finally {
      client.close();
      info.socket.destroy();
    }
  }

  test('IPv4 and IPv6 targets, 1,200 binary bytes, without auth', T, async () => {
    await roundTrip({ host: '127.0.0.1', port: open.port, type: 5 }, { host: '127.0.0.1', port: echo4.port }, randomBytes(1200));
    await roundTrip({ host: '127.0.0.1', port: open.port, type: 5 }, { host: '::1', port: echo6.port }, Buffer.from('over ipv6'));
  });

  test('with username/password', T, async () => {
    await roundTrip({ host: '127.0.0.1', port: authed.port, type: 5, userId: 'alice', password: 's3cret' }, { host: '127.0.0.1', port: echo4.port }, Buffer.from('authed'));
  });
});
