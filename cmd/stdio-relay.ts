import { closeSync, fstatSync, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { errnoCode, socketErrorText, SocxError } from '../lib/errors.ts';
import { relay, type RelayResult } from '../lib/relay.ts';
import { stdoutFailure } from './output.ts';

/** nc-style, as the contract has it for `socx connect` (and `socx bind`): stdin to `socket`, `socket` to
 * stdout, each direction ending on its own. EOF on stdin half-closes the remote side; EOF from the remote ends
 * stdout while the upload goes on, since a receiver that half-closes first still wants every byte. Resolves
 * with 0 once both directions have ended and stdout is flushed, and rejects (exit 1) at once on a reset, a
 * failed write to stdout or any other abrupt end: truncated data is never a success. `head`: bytes the remote
 * sent right behind the proxy's last reply, written out first. */
export async function relayStdio(socket: Socket, head: Buffer, remote: string): Promise<number> {
  process.stdout.once('finish', closeStdoutPipe);
  const stdio = Duplex.from({ readable: process.stdin, writable: process.stdout });
  const result = await relay(stdio, socket, { headB: head });
  // The relay destroys the Duplex.from() wrapper, not process.stdin: when stdin is a socket (a parent that hands
  // us a socketpair, as Node's spawn with 'pipe' does), its pending read kept the process alive until stdin
  // yielded something, long after the remote side had closed.
  process.stdin.destroy();
  if (result.reason === 'completed') return 0;
  throw new SocxError(stdoutFailure() ? 'output' : 'network', describeEnd(result, remote));
}

/**
 * The remote's EOF, passed on: Node never closes fd 1 (process.stdout's destroy does nothing), so a reader at
 * the other end of a pipe — ssh, running us as its ProxyCommand — would see the end only when we exit, which
 * is when stdin ends, and ssh never ends it. Once stdout has flushed, fd 1 is pointed at /dev/null: the pipe
 * loses its writer, and nothing later can land in a file that would take fd 1's number.
 */
function closeStdoutPipe(): void {
  const stat = fstatSync(1);
  if (!stat.isFIFO() && !stat.isSocket()) return;
  closeSync(1);
  const fd = openSync('/dev/null', 'w');
  // Another thread opened a file in between and got number 1: it is theirs now.
  if (fd !== 1) closeSync(fd);
}

/** One line naming how the relay ended early and how much had got through by then. */
function describeEnd(result: RelayResult, remote: string): string {
  const counts = `after ${result.bytesAToB} bytes sent and ${result.bytesBToA} received`;
  if (result.side === 'a') {
    const why = result.error ? socketErrorText(errnoCode(result.error)) : 'closed';
    return `${stdoutFailure()?.message ?? `stdin/stdout failed (${why})`} ${counts}; the connection to ${remote} was closed`;
  }
  if (result.reason === 'reset') return `connection reset: the proxy or ${remote} ended the connection abruptly ${counts}`;
  const why = result.error ? socketErrorText(errnoCode(result.error)) : 'closed before both directions had ended';
  return `connection to ${remote} failed: ${why} ${counts}`;
}
