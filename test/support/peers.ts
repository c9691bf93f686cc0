// Third-party SOCKS/SSH peers and tiny in-process servers for interop tests.
// External peers come from apt (see .ci/run); a missing binary is an error,
// never a skip, so CI cannot go green without actually testing interop.
import { mkdirSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, requireBinary, run, startProcess, type Started } from './process.ts';

export interface Peer {
  host: '127.0.0.1';
  port: number;
  stop(): Promise<void>;
}

export interface SshdPeer extends Peer {
  clientKeyPath: string;
  knownHostsPath: string;
  /** ssh client args ending in `-p PORT root@127.0.0.1`; append the remote command. */
  sshArgs(proxyCommand?: string): string[];
}

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 15_000;

async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `socx-${prefix}-`));
}

// freePort() is racy: if another process takes the port before the peer binds,
// the peer exits early; a fresh port on retry makes that a non-event.
async function onFreePort(start: (port: number) => Promise<Started>): Promise<{ port: number; proc: Started }> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort(HOST);
    try {
      return { port, proc: await start(port) };
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

function stopper(proc: Started, dir?: string): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= (async () => {
      try {
        await proc.stop();
      } finally {
        if (dir) await rm(dir, { recursive: true, force: true });
      }
    })());
}

/** microsocks: SOCKS5 only (no SOCKS4), CONNECT only (no BIND/UDP). */
export async function startMicrosocks(opts: { user?: string; password?: string } = {}): Promise<Peer> {
  const bin = requireBinary('microsocks');
  const auth = opts.user !== undefined ? ['-u', opts.user, '-P', opts.password ?? ''] : [];
  const { port, proc } = await onFreePort((port) =>
    startProcess(bin, ['-i', HOST, '-p', String(port), ...auth], { readyPort: port, timeoutMs: START_TIMEOUT_MS }),
  );
  return { host: HOST, port, stop: stopper(proc) };
}

/** Dante (danted): SOCKS4 (not 4a) + SOCKS5, no auth, optionally BIND and UDP ASSOCIATE. */
export async function startDante(opts: { bind?: boolean; udp?: boolean } = {}): Promise<Peer & { output(): string }> {
  const bin = requireBinary('/usr/sbin/danted', 'dante-server');
  const dir = await tempDir('dante');
  const commands = ['connect'];
  if (opts.bind) commands.push('bind', 'bindreply');
  if (opts.udp) commands.push('udpassociate', 'udpreply');
  const config = (port: number) =>
    [
      'logoutput: stderr',
      `internal: ${HOST} port = ${port}`,
      `external: ${HOST}`,
      'socksmethod: none',
      'clientmethod: none',
      // Without these, danted as root relays as uid 0 (and warns); as non-root they would fail.
      ...(process.getuid?.() === 0 ? ['user.privileged: root', 'user.unprivileged: nobody'] : []),
      // `command:` needs its own line: dante's parser rejects a `log:` after it on the same line.
      'client pass {\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  log: error\n}',
      `socks pass {\n  from: 127.0.0.0/8 to: 127.0.0.0/8\n  command: ${commands.join(' ')}\n  log: error\n}`,
      // BIND and UDP ASSOCIATE requests usually carry 0.0.0.0 (or, from PySocks,
      // the *hostname* "0") as the address, which matches no 127/8 rule.
      ...(opts.bind || opts.udp
        ? [
            `socks pass {\n  from: 0.0.0.0/0 to: 0.0.0.0/0\n  command: ${[
              ...(opts.bind ? ['bind'] : []),
              ...(opts.udp ? ['udpassociate'] : []),
            ].join(' ')}\n  log: error\n}`,
          ]
        : []),
      '',
    ].join('\n');
  try {
    const { port, proc } = await onFreePort(async (port) => {
      const cfg = path.join(dir, 'danted.conf');
      await writeFile(cfg, config(port));
      return startProcess(bin, ['-f', cfg, '-p', path.join(dir, 'danted.pid'), '-N', '1'], {
        readyPort: port,
        timeoutMs: START_TIMEOUT_MS,
      });
    });
    return { host: HOST, port, stop: stopper(proc, dir), output: proc.output };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** tinyproxy (HTTP CONNECT) in the foreground: CONNECT allowed only to `connectPort` (others get "403 Access
 * violation") when given, and Basic authentication (407 without it) when a user is given. */
export async function startTinyproxy(opts: { connectPort?: number; user?: string; password?: string } = {}): Promise<Peer & { output(): string }> {
  const bin = requireBinary('tinyproxy');
  const dir = await tempDir('tinyproxy');
  const config = (port: number) =>
    [
      `Port ${port}`,
      `Listen ${HOST}`,
      'Timeout 30',
      'MaxClients 64',
      'LogLevel Info',
      `Allow ${HOST}`,
      ...(opts.connectPort === undefined ? [] : [`ConnectPort ${opts.connectPort}`]),
      ...(opts.user === undefined ? [] : [`BasicAuth ${opts.user} ${opts.password ?? ''}`]),
      '',
    ].join('\n');
  try {
    const { port, proc } = await onFreePort(async (port) => {
      const cfg = path.join(dir, 'tinyproxy.conf');
      await writeFile(cfg, config(port));
      return startProcess(bin, ['-d', '-c', cfg], { readyPort: port, timeoutMs: START_TIMEOUT_MS });
    });
    return { host: HOST, port, stop: stopper(proc, dir), output: proc.output };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** squid in the foreground (-N) as an HTTP CONNECT proxy for loopback clients, to any port, no cache; with
 * `forward`, plain (absolute-form) requests too. Its cache log goes to a file in its temp dir: run as root,
 * squid writes as the user "proxy". */
export async function startSquid(opts: { forward?: boolean } = {}): Promise<Peer & { output(): Promise<string> }> {
  const bin = requireBinary('/usr/sbin/squid', 'squid');
  const dir = await tempDir('squid');
  await chmod(dir, 0o777);
  const config = (port: number) =>
    [
      `http_port ${HOST}:${port}`,
      `pid_filename ${path.join(dir, 'squid.pid')}`,
      `cache_log ${path.join(dir, 'cache.log')}`,
      'access_log none',
      'cache deny all',
      'cache_mem 8 MB',
      'pinger_enable off',
      `coredump_dir ${dir}`,
      'shutdown_lifetime 0 seconds',
      'acl loopback src 127.0.0.0/8',
      `http_access allow loopback${opts.forward ? '' : ' CONNECT'}`,
      'http_access deny all',
      '',
    ].join('\n');
  try {
    const { port, proc } = await onFreePort(async (port) => {
      const cfg = path.join(dir, 'squid.conf');
      await writeFile(cfg, config(port));
      return startProcess(bin, ['-N', '-f', cfg], { readyPort: port, timeoutMs: START_TIMEOUT_MS });
    });
    const output = async () => `${proc.output()}${await readFile(path.join(dir, 'cache.log'), 'utf8').catch(() => '')}`;
    return { host: HOST, port, stop: stopper(proc, dir), output };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Throwaway OpenSSH server for root, public-key auth with a fresh client key. */
export async function startSshd(): Promise<SshdPeer> {
  const sshd = requireBinary('/usr/sbin/sshd', 'openssh-server');
  const keygen = requireBinary('ssh-keygen', 'openssh-client');
  requireBinary('ssh', 'openssh-client');
  // sshd's privilege-separation dir; absent on a fresh container until the service first runs.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = await tempDir('sshd');
  try {
    const hostKey = path.join(dir, 'host_key');
    const clientKeyPath = path.join(dir, 'client_key');
    for (const f of [hostKey, clientKeyPath]) {
      const r = await run(keygen, ['-q', '-N', '', '-t', 'ed25519', '-f', f], { timeoutMs: 10_000 });
      if (r.code !== 0) throw new Error(`ssh-keygen failed (${r.code}): ${r.stderr}`);
    }
    const authorizedKeys = path.join(dir, 'authorized_keys');
    await writeFile(authorizedKeys, await readFile(`${clientKeyPath}.pub`));
    const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    const knownHostsPath = path.join(dir, 'known_hosts');
    const cfg = path.join(dir, 'sshd_config');

    const { port, proc } = await onFreePort(async (port) => {
      await writeFile(knownHostsPath, `[${HOST}]:${port} ${hostPub}\n`);
      await writeFile(
        cfg,
        [
          `Port ${port}`,
          `ListenAddress ${HOST}`,
          `HostKey ${hostKey}`,
          `AuthorizedKeysFile ${authorizedKeys}`,
          'PubkeyAuthentication yes',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          `PidFile ${path.join(dir, 'sshd.pid')}`,
          'UsePAM no',
          // The temp dir and keys are not laid out the way StrictModes insists on.
          'StrictModes no',
          'PermitRootLogin prohibit-password',
          '',
        ].join('\n'),
      );
      // A port probe would log a preauth disconnect; the listen line is exact.
      return startProcess(sshd, ['-D', '-e', '-f', cfg], {
        readyPattern: /Server listening on 127\.0\.0\.1 port/,
        readyStream: 'stderr',
        timeoutMs: START_TIMEOUT_MS,
      });
    });
    const sshArgs = (proxyCommand?: string): string[] => [
      // -F none: the invoking user's ~/.ssh/config must not leak into tests.
      '-F', 'none',
      '-i', clientKeyPath,
      '-o', 'IdentitiesOnly=yes',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes',
      '-o', 'LogLevel=ERROR',
      '-o', 'ConnectTimeout=10',
      ...(proxyCommand !== undefined ? ['-o', `ProxyCommand=${proxyCommand}`] : []),
      '-p', String(port),
      `root@${HOST}`,
    ];
    return { host: HOST, port, stop: stopper(proc, dir), clientKeyPath, knownHostsPath, sshArgs };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function listenLocal(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
}

function tracked(server: net.Server): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return sockets;
}

/** Answers every request with `body` (200, application/octet-stream). */
export async function startHttpServer(body: Buffer): Promise<Peer & { requests(): number }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
  const sockets = tracked(server);
  const port = await listenLocal(server);
  return { host: HOST, port, stop: closeServer(server, sockets), requests: () => requests };
}

/** Echoes bytes back; half-close aware: ends its side after the client ends and the echo drains. */
export async function startEchoServer(): Promise<Peer> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const sockets = tracked(server);
  const port = await listenLocal(server);
  return { host: HOST, port, stop: closeServer(server, sockets) };
}

/** Swallows bytes, counting them; ends its side once the client ends. */
export async function startSinkServer(): Promise<Peer & { received(): number }> {
  let received = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.on('data', (b: Buffer) => (received += b.length));
    s.on('end', () => s.end());
  });
  const sockets = tracked(server);
  const port = await listenLocal(server);
  return { host: HOST, port, stop: closeServer(server, sockets), received: () => received };
}

/** UDP datagram echo (each datagram goes back to its sender). */
export async function startUdpEchoServer(): Promise<Peer> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, HOST, () => resolve());
  });
  const stop = () => new Promise<void>((resolve) => sock.close(() => resolve()));
  return { host: HOST, port: sock.address().port, stop };
}

let pythonChecked: Promise<string> | undefined;

/** A python3 that can `import socks` (PySocks). pyenv's python3 on PATH cannot. */
export function pythonWithSocks(): Promise<string> {
  return (pythonChecked ??= (async () => {
    const py = requireBinary('/usr/bin/python3', 'python3');
    const r = await run(py, ['-c', 'import socks'], { timeoutMs: 10_000 });
    if (r.code !== 0) {
      pythonChecked = undefined;
      throw new Error(`${py} cannot import socks (apt-get install python3-socks): ${r.stderr}`);
    }
    return py;
  })());
}
