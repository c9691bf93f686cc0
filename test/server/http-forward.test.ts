/** HttpForward on its own, with sockets that only count: what it asks of the reads when a write to the
 * other side is left pending (backpressure), whatever the origin sends. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { HttpForward, type ForwardEnd } from '../../lib/server/http-forward.ts';
import { readHttpRequest, type ForwardPlan } from '../../lib/server/http-request.ts';

/** A socket whose writes all stay pending (a client that does not read), or all go through. */
function countingSocket(pending: boolean): Socket & { written: number } {
  const socket = {
    written: 0,
    writableLength: 0,
    write(bytes: Buffer): boolean {
      socket.written += bytes.length;
      if (pending) socket.writableLength += bytes.length;
      return !pending;
    },
    destroy(): void {},
    resume(): void {},
  };
  return socket as unknown as Socket & { written: number };
}

function planFor(head: string): ForwardPlan {
  const read = readHttpRequest(Buffer.from(head, 'latin1'), 0);
  assert.ok(read?.request.kind === 'forward' && read.request.forward);
  return read.request.forward;
}

test('a stream of 1xx heads to a client that does not read stops the origin\'s reads, as a body does', () => {
  const client = countingSocket(true);
  const origin = countingSocket(false);
  const ends: ForwardEnd[] = [];
  const forward = new HttpForward({ forwardEnded: (end) => ends.push(end) }, client, false, origin, planFor('GET http://x/ HTTP/1.1\r\n\r\n'));
  forward.start(undefined, undefined);
  // One 102 whole, the next one cut: the read ends inside a head, after a write left pending.
  const more = forward.onRead(origin, Buffer.from('HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 10', 'latin1'), false);
  assert.equal(client.written, 'HTTP/1.1 102 Processing\r\nVia: 1.1 socx\r\n\r\n'.length);
  assert.equal(more, false);
  assert.deepEqual(ends, []);
});
