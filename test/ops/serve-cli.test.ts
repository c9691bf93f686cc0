/** serve on the built executable: SIGUSR1 prints the status and never opens the inspector (issue 12, item 3),
 * the start lines (item 5), --egress (item 6), listen errors in words (item 7). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { openSession } from '../../lib/client/client.ts';
import { parseProxyUrl } from '../../lib/client/proxy-url.ts';
import { openUdpSession } from '../../lib/client/udp.ts';
import { toAddress } from '../../lib/codec/address.ts';
import { listenErrorText } from '../../lib/server/listen-address.ts';
import { deferred, startEcho, withTimeout } from '../helpers/net.ts';
import { runSocx, socxBinary, waitForOutput } from '../interop/socx.ts';
import { socxSource } from './cli.ts';
import { startServe, type ServeProcess } from './serve-process.ts';

const T = { timeout: 60_000 };
const running: ServeProcess[] = [];
after(async () => { for (const server of running) await server.stop(); });
async function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const server = await startServe(args, env);
  running.push(server);
  if (!args.includes('-q')) await server.started();
  return server;
}

/** Whether anything accepts TCP connections on 127.0.0.1:9229, Node's inspector port. */
function inspectorListening(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: 9229 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

describe('the inspector is never reachable from dist/socx', () => {
  test('SIGUSR1 to serve prints a one-screen status; nothing listens on 9229; serve goes on', T, async () => {
    assert.equal(await inspectorListening(), false, 'something else already listens on 127.0.0.1:9229');
    const server = await serve(['-l', '127.0.0.1:0']);
    const echo = await startEcho();
    try {
      const held = await openSession('connect', toAddress(echo.host, echo.port), { proxy: parseProxyUrl(`socks5h://127.0.0.1:${server.port}`), timeoutMs: 5000 });
      held.socket.write('x'.repeat(1000));
      await echo.peer(0);
      const status = await server.statusUntil(/socx: {3}connections: 1 open: 0 in handshake, 1 past it \(connecting or relaying\)/);
      assert.match(status, /^socx: status: up \d+s \(since \d{4}-\d\d-\d\dT[\d:.]+Z\)\n/);
      assert.match(status, /^socx: {3}top clients:\nsocx: {5}127\.0\.0\.1 +1$/m);
      assert.match(status, /^socx: {3}traffic: [\d.]+ (B|KiB) from clients, [\d.]+ (B|KiB) to clients$/m);
      assert.equal(await inspectorListening(), false);
      assert.doesNotMatch(server.output(), /Debugger|inspector/i);
      held.socket.destroy();
      await server.statusUntil(/connections: 0 open.*\n.*\nsocx: {3}clients: none connected/);
    } finally {
      await echo.close();
    }
  });

  test('NODE_OPTIONS=--inspect is ignored by the executable', T, async () => {
    const server = await serve(['-l', '127.0.0.1:0'], { NODE_OPTIONS: '--inspect=127.0.0.1:9229' });
    assert.equal(await inspectorListening(), false);
    assert.doesNotMatch(server.output(), /Debugger listening/);
  });

  test('SIGUSR1 to another command (connect, waiting on stdin) opens nothing and does not stop it', T, async () => {
    const echo = await startEcho();
    const server = await serve(['-l', '127.0.0.1:0']);
    const child = spawn(socxBinary(), ['connect', '-x', `127.0.0.1:${server.port}`, echo.host, String(echo.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      await withTimeout(echo.peer(0), 5000, 'the connection through the proxy');
      const out = deferred<string>();
      child.stdout.once('data', (chunk: Buffer) => out.resolve(chunk.toString()));
      process.kill(child.pid ?? 0, 'SIGUSR1');
      child.stdin.write('after the signal');
      assert.equal(await withTimeout(out.promise, 5000, 'the echo'), 'after the signal');
      assert.equal(await inspectorListening(), false);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.stdin.end();
      assert.equal(await withTimeout(exited, 5000, 'connect to exit'), 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await echo.close();
    }
  });

  test('--inspect on the command line is an unknown option, not Node\'s', T, async () => {
    const r = await runSocx(['serve', '--inspect', '-l', '127.0.0.1:0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^socx: unknown option `--inspect`/);
  });
});

describe('start lines', () => {
  test('with users: the ready line, what is enforced, and copy-paste lines with placeholders for the password', T, async () => {
    const server = await serve(['-l', '127.0.0.1:0', '--auth', 'alice:s3cret']);
    const lines = server.output().split('\n');
    const authority = `127.0.0.1:${server.port}`;
    assert.equal(lines[0], `socx: listening on ${authority}`);
    assert.equal(lines[1], 'socx: auth: username/password, 1 user(s); SOCKS4 is refused');
    assert.match(lines[2] ?? '', /^socx: commands: CONNECT, BIND, UDP; handshake deadline 10s, lookup 5s, connect 10s, idle off;/);
    assert.match(lines[3] ?? '', /^socx: limits: \d+ connections, \d+ in handshake \(oldest dropped first\), per IP no limit, 16 BINDs per IP$/);
    assert.equal(lines[4], 'socx: policy: always deny unspecified (0.0.0.0/8, ::): not a destination');
    assert.equal(lines[5], 'socx: policy: then allow everything else: the listener is loopback-only');
    assert.equal(lines[6], `socx: try: curl -x socks5h://USER:PASS@${authority} https://example.com/`);
    assert.ok(lines.includes(`socx:      ssh -o ProxyCommand='socx connect -x socks5h://USER:PASS@${authority} %h %p' user@host`));
    assert.ok(lines.includes(`socx:      proxychains4: "socks5 127.0.0.1 ${server.port} USER PASS" under [ProxyList]`));
    assert.ok(lines.some((line) => line.startsWith(`socx:      ALL_PROXY=socks5h://USER:PASS@${authority} git `)));
    assert.ok(!server.output().includes('s3cret'));
  });

  test('-q: only the ready line; an IPv6 listener is bracketed in URLs', T, async () => {
    const quiet = await serve(['-l', '127.0.0.1:0', '-q']);
    assert.equal(quiet.output(), `socx: listening on 127.0.0.1:${quiet.port}\n`);
    const v6 = await serve(['-l', '[::1]:0']);
    assert.match(v6.output(), new RegExp(`try: curl -x socks5h://\\[::1\\]:${v6.port} `));
    assert.match(v6.output(), new RegExp(`proxychains4: "socks5 ::1 ${v6.port}"`));
  });

  test('--allow-open-proxy on a wildcard address: a warning, and a placeholder for the host', T, async () => {
    const server = await serve(['-l', '0.0.0.0:0', '--allow-open-proxy']);
    assert.match(server.output(), new RegExp(`^socx: warning: open proxy: anyone who can reach 0\\.0\\.0\\.0:${server.port} may use it \\(--allow-open-proxy\\)$`, 'm'));
    assert.match(server.output(), /^socx: auth: none \(open proxy\); SOCKS4 allowed$/m);
    assert.match(server.output(), new RegExp(`try: curl -x socks5h://THIS-HOST:${server.port} `));
    // Quiet does not hide the warning.
    const quiet = await serve(['-l', '0.0.0.0:0', '--allow-open-proxy', '-q']);
    await waitForOutput(quiet, /warning: open proxy/);
    assert.doesNotMatch(quiet.output(), /try:/);
  });
});

describe('--egress', () => {
  test('CONNECT, UDP and BIND leave from the egress address', T, async () => {
    const server = await serve(['-l', '127.0.0.1:0', '--egress', '127.0.0.2']);
    const proxy = parseProxyUrl(`socks5h://127.0.0.1:${server.port}`);
    const echo = await startEcho('127.0.0.1');
    const udpEcho = dgram.createSocket('udp4');
    const udpSource = deferred<string>();
    udpEcho.on('message', (msg, rinfo) => { udpSource.resolve(rinfo.address); udpEcho.send(msg, rinfo.port, rinfo.address); });
    await new Promise<void>((resolve) => udpEcho.bind(0, '127.0.0.1', resolve));
    try {
      const tcp = await openSession('connect', toAddress(echo.host, echo.port), { proxy, timeoutMs: 5000 });
      assert.equal((await echo.peer(0)).remoteAddress, '127.0.0.2');
      tcp.socket.destroy();

      const udp = await openUdpSession({ proxy, timeoutMs: 5000 });
      udp.send(toAddress('127.0.0.1', udpEcho.address().port), Buffer.from('ping'), () => {});
      assert.equal(await withTimeout(udpSource.promise, 5000, 'the datagram'), '127.0.0.2');
      udp.close();

      const bind = await openSession('bind', toAddress('0.0.0.0', 0), { proxy, timeoutMs: 5000 });
      assert.equal(bind.bound.host, '127.0.0.2');
      bind.socket.destroy();
    } finally {
      udpEcho.close();
      await echo.close();
    }
  });

  test('bad --egress values are usage errors', () => {
    for (const [args, message] of [
      [['--egress', 'eth0'], 'socx: --egress must be an IP address of this machine, not "eth0"\n'],
      [['--egress', '127.0.0.2', '--egress', '127.0.0.3'], 'socx: --egress: one address per family (two IPv4 addresses given)\n'],
      // TEST-NET-2: on no interface of a test machine.
      [['--egress', '198.51.100.254'], 'socx: --egress 198.51.100.254: this machine has no such address\n'],
    ] as const) {
      const r = socxSource(['serve', '--check-config', ...args]);
      assert.deepEqual([r.code, r.stderr], [2, message]);
    }
  });
});

describe('listen errors in plain words', () => {
  test('-l values are checked before the open-proxy rule', () => {
    const cases: Array<[string, string]> = [
      ['abc', 'socx: bad --listen "abc": "abc" is not an IP address (expected [host:]port with an IP address or localhost, e.g. 1080, 127.0.0.1:1080, 0.0.0.0:1080 or [::1]:0)\n'],
      ['[::1', 'socx: bad --listen "[::1": an IPv6 address goes in brackets, as [::1]:1080\n'],
      ['', 'socx: -l needs a value, not an empty string\n'],
      ['::1:1080x', 'socx: bad --listen "::1:1080x": an IPv6 address with a port goes in brackets, as [::1]:1080\n'],
      ['0.0.0.0:99999', 'socx: bad --listen "0.0.0.0:99999": port must be 0-65535 (0 picks a free one), not "99999"\n'],
    ];
    for (const [value, stderr] of cases) {
      const r = socxSource(['serve', '-l', value]);
      assert.deepEqual([r.code, r.stderr], [2, stderr], value);
    }
    assert.equal(socxSource(['serve', '--listen=']).stderr, 'socx: --listen needs a value, not an empty string\n');
  });

  test('a value that begins with "-" and a digit is the option\'s value, checked by the option, not an unknown option', () => {
    const cases: Array<[string[], string]> = [
      [['--max-connections', '-1'], 'socx: --max-connections must be a whole number 0 or more, not "-1"\n'],
      [['--max-connections=-1'], 'socx: --max-connections must be a whole number 0 or more, not "-1"\n'],
      [['-l', '-1'], 'socx: bad --listen "-1": "-1" is not an IP address (expected [host:]port with an IP address or localhost, e.g. 1080, 127.0.0.1:1080, 0.0.0.0:1080 or [::1]:0)\n'],
      [['--handshake-timeout', '-5s'], 'socx: --handshake-timeout must be a duration such as 500ms, 10s, 2m or 1h (a bare number is milliseconds), not "-5s"\n'],
      [['--max-handshakes', '0'], 'socx: --max-handshakes must be a whole number 1 or more, not "0"\n'],
      // A flag in the value's place is still a missing value, and "-1" alone is still an unknown option.
      [['--max-connections', '-q'], 'socx: option `--max-connections <n>` value is missing (see socx serve --help)\n'],
      [['-1'], 'socx: unknown option `-1` (see socx serve --help)\n'],
    ];
    for (const [args, stderr] of cases) {
      const r = socxSource(['serve', '--check-config', ...args]);
      assert.deepEqual([r.code, r.stderr], [2, stderr], args.join(' '));
    }
  });

  test('an address this machine does not have, a port in use: exit 1 in words', T, async () => {
    const r = await runSocx(['serve', '-l', '192.0.2.1:1080', '--allow-open-proxy']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').at(-1), 'socx: cannot listen on 192.0.2.1:1080: this machine has no such address');
    const server = await serve(['-l', '127.0.0.1:0']);
    const busy = await runSocx(['serve', '-l', `127.0.0.1:${server.port}`]);
    assert.equal(busy.code, 1);
    assert.equal(busy.stderr, `socx: cannot listen on 127.0.0.1:${server.port}: address already in use (another server is listening there)\n`);
  });

  test('an IPv4-mapped address: exit 1, the line says why and what to listen on instead', T, async () => {
    const r = await runSocx(['serve', '-l', '[::ffff:127.0.0.1]:0']);
    assert.deepEqual([r.code, r.stderr], [1, 'socx: cannot listen on [::ffff:127.0.0.1]:0: an IPv4-mapped address cannot be listened on (IPv6 listeners are IPv6-only): listen on 127.0.0.1:0 instead\n']);
  });

  test('every errno a listen meets is in words, never the bare code', () => {
    const failed = (code: string): Error => Object.assign(new Error(`listen ${code}`), { code });
    const somewhere = [{ host: '::1', port: 8080 }];
    const words = ['EADDRNOTAVAIL', 'EADDRINUSE', 'EACCES', 'EPERM', 'EINVAL', 'EAFNOSUPPORT', 'EMFILE'].map((code) => listenErrorText(failed(code), somewhere));
    assert.deepEqual(words, [
      'this machine has no such address',
      'address already in use (another server is listening there)',
      'permission denied',
      'operation not permitted',
      'the system refused the address for this socket (invalid argument)',
      'address family not supported',
      'too many open files',
    ]);
  });

  test('EACCES on a low port says privileges are needed (tests run as root here, so the error is given)', () => {
    const error = Object.assign(new Error('listen EACCES'), { code: 'EACCES' });
    assert.match(listenErrorText(error, [{ host: '0.0.0.0', port: 80 }]), /^port 80 needs privileges \(run as root, or grant CAP_NET_BIND_SERVICE/);
    assert.equal(listenErrorText(error, [{ host: '0.0.0.0', port: 8080 }]), 'permission denied');
  });
});
