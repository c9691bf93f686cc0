/** `socx bind` (the built executable) against Dante 1.4 (danted, SOCKS4 without 4a and SOCKS5): both replies
 * understood, data byte-exact both ways with half-close, and Dante's refusals mapped to exit 4. A missing
 * danted fails the suite (never a skip): .ci/run installs it. */

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Collector, connectTo } from '../helpers/net.ts';
import { startDante, type Peer } from '../support/peers.ts';
import { exitOf, runSocx, startBind } from './cli.ts';

const T = { timeout: 60_000 };

describe('socx bind → Dante', () => {
  let dante: Peer & { output(): string };
  before(async () => { dante = await startDante({ bind: true }); });
  after(async () => { await dante?.stop(); });

  for (const scheme of ['socks5', 'socks4'] as const) {
    test(`${scheme}://: bound and peer lines, 128 KiB each way byte-exact, stdin EOF reaches the peer`, T, async () => {
      const bind = startBind(['-x', `${scheme}://${dante.host}:${dante.port}`, '127.0.0.1', '0']);
      try {
        const bound = await bind.line('bound');
        // Dante announces its `external:` address (127.0.0.1 in this configuration).
        assert.equal(bound.host, '127.0.0.1');
        const peer = new Collector(await connectTo(bound.host, bound.port));
        const peerPort = peer.socket.localPort;
        assert.deepEqual(await bind.line('peer'), { host: '127.0.0.1', port: peerPort });
        const up = randomBytes(128 * 1024);
        const down = randomBytes(128 * 1024);
        bind.child.stdin?.end(up);
        assert.ok((await peer.end(10_000)).equals(up), 'the peer got stdin byte-exact, then EOF');
        peer.socket.end(down);
        assert.equal(await exitOf(bind), 0, `${bind.stderr()}\n${dante.output()}`);
        assert.ok(bind.stdout().equals(down), 'stdout is the peer\'s bytes, byte-exact');
      } finally {
        bind.stop();
      }
    });

    test(`${scheme}://: a peer from another IP than HOST is refused by Dante too → exit 4`, T, async () => {
      const bind = startBind(['-x', `${scheme}://${dante.host}:${dante.port}`, '127.0.0.2', '0']);
      try {
        const bound = await bind.line('bound');
        const peer = new Collector(await connectTo(bound.host, bound.port));
        assert.equal(await exitOf(bind), 4, bind.stderr());
        assert.match(bind.stderr(), scheme === 'socks5'
          ? /proxy refused: connection not allowed by ruleset \(SOCKS5 reply 0x02\)/
          : /proxy refused: request rejected or failed \(SOCKS4 reply 0x5b\)/);
        await peer.end();
      } finally {
        bind.stop();
      }
    });
  }
});

test('socx bind → Dante without the bind command in its rules: refused, exit 4 naming the reply', T, async () => {
  const dante = await startDante();
  try {
    const r = await runSocx(['bind', '-x', `socks5://${dante.host}:${dante.port}`, '127.0.0.1', '0']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /^socx: proxy refused: connection not allowed by ruleset \(SOCKS5 reply 0x02\)\n$/);
  } finally {
    await dante.stop();
  }
});
