// `socx udp-send --count N` (the built executable, through socx serve) says how many came back: one
// "sent N, received M" line on stderr; with nothing back, that is the one error line, exit 1. --interval paces.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { startUdpEchoServer, type Peer } from '../support/peers.ts';
import { assertOneErrorLine, Cleanup, describeRun, NO_PROXY_ENV, runSocx, startSocxServe, type SocxServer } from './socx.ts';

const T = { timeout: 30_000 };

describe('socx udp-send --count: the summary line', () => {
  const cleanup = new Cleanup();
  let serve: SocxServer;
  let echo: Peer;
  let silent: dgram.Socket;

  before(async () => {
    serve = cleanup.add(await startSocxServe(['-q']));
    echo = cleanup.add(await startUdpEchoServer());
    // Takes datagrams and never answers.
    silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  });
  after(async () => {
    silent.close();
    await cleanup.run();
  });

  test('--count 5 --interval 20: five replies on stdout, "sent 5, received 5" on stderr, exit 0', T, async () => {
    const r = await runSocx(['udp-send', '-x', `socks5h://${serve.authority}`, '--count', '5', '--interval', '20', '--wait', '1000', '--hex', '127.0.0.1', String(echo.port), 'ping'], { env: NO_PROXY_ENV });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout.toString(), `${Buffer.from('ping').toString('hex')}\n`.repeat(5));
    assert.equal(r.stderr, 'socx: sent 5, received 5\n');
  });

  test('--count 3 to a target that never answers: exit 1, one line "sent 3, received 0: no reply …"', T, async () => {
    const port = silent.address().port;
    const r = await runSocx(['udp-send', '-x', `socks5h://${serve.authority}`, '--count', '3', '--wait', '300', '127.0.0.1', String(port), 'ping'], { env: NO_PROXY_ENV });
    assert.equal(r.code, 1, describeRun(r));
    assertOneErrorLine(r.stderr);
    assert.equal(r.stderr, `socx: sent 3, received 0: no reply from 127.0.0.1:${port} within 300 ms\n`);
  });

  test('a single datagram prints no summary (stdout and the exit code say it all)', T, async () => {
    const r = await runSocx(['udp-send', '-x', `socks5h://${serve.authority}`, '--wait', '1000', '127.0.0.1', String(echo.port), 'one'], { env: NO_PROXY_ENV });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout.toString(), 'one');
    assert.equal(r.stderr, '');
  });
});
