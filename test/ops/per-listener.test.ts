// Per-listener settings in the config file: `auth: false` on one listener lets its clients in without a login
// (SOCKS4 included) while the other listener of the same server asks for one; an exposed listener without a
// login is an open proxy and needs --allow-open-proxy.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Collector, connectTo, hex, startEcho, type EchoServer } from '../helpers/net.ts';
import { greet, socks4Connect } from '../helpers/socks.ts';
import { socxSource, tempFiles } from './cli.ts';
import { startServe, type ServeProcess } from './serve-process.ts';

const T = { timeout: 30_000 };
const files = tempFiles();
const running: ServeProcess[] = [];
let echo: EchoServer | undefined;
after(async () => {
  for (const server of running) await server.stop();
  await echo?.close();
  files.remove();
});

describe('per-listener auth', () => {
  test('auth: false on 127.0.0.1 lets clients in without a login; 127.0.0.2 of the same server asks for one', T, async () => {
    echo = await startEcho();
    const config = files.write('listeners.yaml', [
      'users:',
      '  alice: "s3cret"',
      'listeners:',
      '  - address: "127.0.0.1:0"',
      '    auth: false',
      '  - "127.0.0.2:0"',
      '',
    ].join('\n'));
    const server = await startServe(['--config', config]);
    running.push(server);
    await server.started();
    const ports = [...server.output().matchAll(/listening on (127\.0\.0\.[12]):(\d+)/g)].map((m) => ({ host: m[1] ?? '', port: Number(m[2]) }));
    assert.equal(ports.length, 2, server.output());
    const [open, closed] = ports.sort((a, b) => a.host.localeCompare(b.host));
    assert.match(server.output(), new RegExp(`auth: username/password, 1 user\\(s\\); SOCKS4 is refused; no login, and SOCKS4 allowed, on 127\\.0\\.0\\.1:${open!.port} \\(auth: false\\)`));
    const free = new Collector(await connectTo(open!.host, open!.port));
    assert.deepEqual(await greet(free, [0x00]), hex('05 00'));
    free.socket.destroy();
    const asked = new Collector(await connectTo(closed!.host, closed!.port));
    assert.deepEqual(await greet(asked, [0x00]), hex('05 ff'));
    asked.socket.destroy();
    // SOCKS4 has no login: allowed where none is needed, refused where one is.
    const four = new Collector(await connectTo(open!.host, open!.port));
    four.socket.write(socks4Connect({ type: 'ipv4', host: '127.0.0.1', port: echo.port }));
    assert.equal((await four.take(8))[1], 0x5a);
    four.socket.destroy();
    const fourRefused = new Collector(await connectTo(closed!.host, closed!.port));
    fourRefused.socket.write(socks4Connect({ type: 'ipv4', host: '127.0.0.1', port: echo.port }));
    assert.deepEqual(await fourRefused.end(), hex('00 5b 0000 00000000'));
  });

  test('an exposed listener with auth: false is an open proxy: refused without --allow-open-proxy; --check-config lists it', () => {
    const config = files.write('open.yaml', 'users:\n  alice: "s3cret"\nlisteners:\n  - address: "0.0.0.0:1080"\n    auth: false\n');
    const refused = socxSource(['serve', '--config', config, '--check-config']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^socx: (config file .*open\.yaml, line \d+: )?refusing to run an open proxy on 0\.0\.0\.0:1080: it takes clients without a login \(auth: false\); pass --allow-open-proxy if anyone who can reach it may use it\n$/);
    const allowed = socxSource(['serve', '--config', config, '--check-config', '--allow-open-proxy']);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /^listeners:\n {2}- address: 0\.0\.0\.0:1080\n {4}auth: false\n/m);
  });

  test('two listeners written alike: auth: false opens only its own; -l replaces the file\'s listeners, settings and all', T, async () => {
    const config = files.write('alike.yaml', 'users:\n  alice: "s3cret"\nlisteners:\n  - "127.0.0.1:0"\n  - address: "127.0.0.1:0"\n    auth: false\n');
    assert.match(socxSource(['serve', '--config', config, '--check-config']).stdout, /^listeners:\n {2}- 127\.0\.0\.1:0\n {2}- address: 127\.0\.0\.1:0\n {4}auth: false\n/m);
    const server = await startServe(['--config', config]);
    running.push(server);
    await server.started();
    const ports = [...server.output().matchAll(/listening on 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    assert.equal(ports.length, 2, server.output());
    const greetings: Buffer[] = [];
    for (const port of ports) {
      const client = new Collector(await connectTo('127.0.0.1', port));
      greetings.push(await greet(client, [0x00]));
      client.socket.destroy();
    }
    // The ready lines come in the order of the listeners: the first asks for a login, the second does not.
    assert.deepEqual(greetings, [hex('05 ff'), hex('05 00')]);
    const replaced = socxSource(['serve', '--config', config, '-l', '127.0.0.1:0', '--check-config']);
    assert.match(replaced.stdout, /^listen: 127\.0\.0\.1:0$/m);
    assert.doesNotMatch(replaced.stdout, /auth: false/);
  });

  test('auth must be true or false, with its line', () => {
    const config = files.write('bad.yaml', 'listeners:\n  - address: "127.0.0.1:0"\n    auth: maybe\n');
    const r = socxSource(['serve', '--config', config, '--check-config']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /line 3: "auth" is true or false\n$/);
  });
});
