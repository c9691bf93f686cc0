// A receiver that half-closes first gets every byte (issue 11), tried as users do: `ncat -l … </dev/null` and
// `ncat HOST PORT </dev/null` as the receiver, through `socx serve` (dist/socx) and Dante, which both carry
// half-close. 4 MiB byte-exact in each direction: socx connect and socx bind sending to a receiver that has
// already sent its FIN, and receiving while their own stdin is already at EOF; and the README's "receive a
// file" recipe, socx bind < /dev/null on one end and socx connect < file on the other.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { withTimeout } from '../helpers/net.ts';
import { startBind } from '../bind/cli.ts';
import { startDante, type Peer } from '../support/peers.ts';
import { freePort, requireBinary } from '../support/process.ts';
import { Cleanup, describeRun, NO_PROXY_ENV, runSocx, sha256, startSocxServe } from './socx.ts';

const T = { timeout: 60_000 };
const DATA = randomBytes(4 * 1024 * 1024);
const DATA_SHA = sha256(DATA);

interface Ncat {
  readonly child: ChildProcess;
  stdout(): Buffer;
  stderr(): string;
  /** The exit code, once it has exited and its output is read. */
  exited(timeoutMs: number): Promise<number | null>;
  stop(): void;
}

/** ncat with stdin at EOF from the start (`</dev/null`), stdout collected. `args` as for ncat. With -l, ready
 * once it says it is listening. */
async function ncat(args: string[]): Promise<Ncat> {
  const child = spawn(requireBinary('ncat'), ['-v', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => { err += text; });
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const stop = (): void => { if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); };
  if (args.includes('-l')) {
    await withTimeout(new Promise<void>((resolve, reject) => {
      child.stderr?.on('data', () => { if (/Listening on/.test(err)) resolve(); });
      void closed.then((code) => reject(new Error(`ncat exited (${code}) before listening: ${err}`)));
    }), 10_000, 'ncat to listen').catch((error: unknown) => { stop(); throw error; });
  }
  return { child, stdout: () => Buffer.concat(out), stderr: () => err, exited: (ms) => withTimeout(closed, ms, `ncat to exit (${err})`), stop };
}

/** A target that sends DATA and ends, whatever the client does meanwhile (it may half-close at once). */
async function startSender(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.resume();
    socket.end(DATA);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

function assertData(got: Buffer, what: string): void {
  assert.equal(got.length, DATA.length, `${what}: ${got.length} of ${DATA.length} bytes`);
  assert.equal(sha256(got), DATA_SHA, `${what}: bytes differ`);
}

describe('a receiver that half-closes first gets every byte', () => {
  const cleanup = new Cleanup();
  const proxies: Array<{ name: string; url: () => string; output: () => string }> = [];
  let sender: { port: number; stop(): Promise<void> };

  before(async () => {
    const serve = cleanup.add(await startSocxServe(['-q']));
    const dante: Peer & { output(): string } = cleanup.add(await startDante({ bind: true }));
    sender = cleanup.add(await startSender());
    proxies.push(
      { name: 'socx serve', url: () => `socks5h://${serve.authority}`, output: serve.output },
      { name: 'Dante', url: () => `socks5://127.0.0.1:${dante.port}`, output: dante.output },
    );
  });
  after(() => cleanup.run());

  for (const index of [0, 1]) {
    const proxy = () => proxies[index]!;
    const name = index === 0 ? 'socx serve' : 'Dante';

    test(`${name}: socx connect < 4 MiB into "ncat -l … </dev/null" (it sends FIN at once): byte-exact, both exit 0`, T, async () => {
      const port = await freePort();
      const receiver = await ncat(['-l', '127.0.0.1', String(port)]);
      try {
        const r = await runSocx(['connect', '-x', proxy().url(), '127.0.0.1', String(port)], { input: DATA, env: NO_PROXY_ENV });
        assert.equal(r.code, 0, describeRun(r, proxy().output()));
        assert.equal(r.stderr, '');
        assert.equal(await receiver.exited(10_000), 0, receiver.stderr());
        assertData(receiver.stdout(), 'ncat -l received');
      } finally {
        receiver.stop();
      }
    });

    test(`${name}: socx connect < /dev/null (half-closes at once) still downloads 4 MiB byte-exact, exit 0`, T, async () => {
      const r = await runSocx(['connect', '-x', proxy().url(), '127.0.0.1', String(sender.port)], { input: Buffer.alloc(0), env: NO_PROXY_ENV });
      assert.equal(r.code, 0, describeRun(r, proxy().output()));
      assertData(r.stdout, 'socx connect received');
    });

    test(`${name}: socx bind < 4 MiB to a peer "ncat HOST PORT </dev/null": byte-exact, both exit 0`, T, async () => {
      const bind = startBind(['-x', proxy().url(), '0.0.0.0', '0']);
      let receiver: Ncat | undefined;
      try {
        const bound = await bind.line('bound');
        receiver = await ncat([bound.host, String(bound.port)]);
        bind.child.stdin?.end(DATA);
        assert.equal(await withTimeout(bind.exit, 20_000, 'socx bind to exit'), 0, `${bind.stderr()}\n${proxy().output()}`);
        assert.equal(await receiver.exited(10_000), 0, receiver.stderr());
        assertData(receiver.stdout(), 'the ncat peer received');
      } finally {
        bind.stop();
        receiver?.stop();
      }
    });

    test(`${name}: the README recipe: "socx bind … < /dev/null > file" receives what "socx connect -x … HOST PORT < file" sends`, T, async () => {
      const bind = startBind(['-x', proxy().url(), '0.0.0.0', '0']);
      try {
        bind.child.stdin?.end();
        const bound = await bind.line('bound');
        const r = await runSocx(['connect', '-x', proxy().url(), bound.host, String(bound.port)], { input: DATA, env: NO_PROXY_ENV });
        assert.equal(r.code, 0, describeRun(r, proxy().output()));
        assert.equal(await withTimeout(bind.exit, 20_000, 'socx bind to exit'), 0, bind.stderr());
        assertData(bind.stdout(), 'socx bind received');
      } finally {
        bind.stop();
      }
    });
  }
});
