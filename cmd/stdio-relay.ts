import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { errnoCode, socketErrorText } from '../lib/errors.ts';
import { relay } from '../lib/relay.ts';
import { printError } from './output.ts';

/** nc-style: stdin to `socket`, `socket` to stdout. EOF on stdin half-closes the remote side; we are done once
 * the remote side has closed and stdout is flushed (the contract's `socx connect`, which `socx bind` follows).
 * `head`: bytes the remote sent right behind the proxy's last reply, written out first. Resolves with the exit
 * code. */
export async function relayStdio(socket: Socket, head: Buffer, remote: string): Promise<number> {
  const stdio = Duplex.from({ readable: process.stdin, writable: process.stdout });
  const result = await relay(stdio, socket, { headB: head, finishWhenBEnds: true });
  // The relay destroys the Duplex.from() wrapper, not process.stdin: when stdin is a socket (a parent that hands
  // us a socketpair, as Node's spawn with 'pipe' does), its pending read kept the process alive until stdin
  // yielded something, long after the remote side had closed.
  process.stdin.destroy();
  if (result.reason === 'completed') return 0;
  const why = result.error ? socketErrorText(errnoCode(result.error)) : result.reason;
  printError(`connection to ${remote} ended: ${why}`);
  return 1;
}
