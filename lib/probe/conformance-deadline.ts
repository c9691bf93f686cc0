import { hexBytes } from './bytes.ts';
import { fail, notApplicable, pass, type ConformanceContext, type Outcome } from './conformance-types.ts';
import { openWire, Wire } from './wire.ts';

/** How often the trickling client sends its next byte: well inside any idle timeout, so only a deadline on
 * the whole handshake cuts it. */
const TRICKLE_MS = 1000;

/** A client that sends a greeting for 255 methods a byte a second (4 minutes in all) must be cut off by a
 * deadline on the whole handshake, not only an idle timer; RFC 1928 sets no number, so `deadlineMs` does. */
export async function handshakeDeadline(context: ConformanceContext): Promise<Outcome> {
  if (context.deadlineMs === 0) return notApplicable('skipped (--handshake-deadline 0)');
  const wire = await openWire(context.proxy, context.timeoutMs);
  if (!(wire instanceof Wire)) return fail(wire.text);
  const started = Date.now();
  try {
    // 255 methods, all X'FE' (private): the greeting is complete only at byte 257.
    const greeting = Buffer.concat([Buffer.from([0x05, 0xff]), Buffer.alloc(255, 0xfe)]);
    for (let sent = 0; sent < greeting.length && Date.now() - started < context.deadlineMs; sent++) {
      wire.send(greeting.subarray(sent, sent + 1));
      if (await wire.closed(Math.min(TRICKLE_MS, context.deadlineMs - (Date.now() - started)))) break;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (!wire.ended) return fail(`a greeting trickled a byte a second was still open after ${seconds} s`);
    // Answering a greeting not yet complete is socks5-greeting-split's failure; it says nothing of a deadline.
    if (wire.received.length > 0) return notApplicable(`cannot tell: it answered the incomplete greeting (${hexBytes(wire.received, 16)}) and closed after ${seconds} s`);
    return pass(`a greeting trickled a byte a second was cut off after ${seconds} s`);
  } finally {
    wire.destroy();
  }
}
