import type { HandshakeStep } from './handshake-script.ts';
import { RawConnection, sharedReadBuffer, type RawOwner } from './raw-tcp.ts';

export interface ConnectionRateSpec {
  readonly concurrency: number;
  readonly durationMs: number;
  /** A connection that has not finished after this long counts as failed (a proxy that swallows data). */
  readonly timeoutMs: number;
}

/** Where each connection goes: the proxy (then the script's steps) or, with no steps, the ping target itself. */
export interface ConnectionPlan {
  readonly host: string;
  readonly port: number;
  readonly script: readonly HandshakeStep[];
}

export interface ConnectionRateResult {
  readonly connections: number;
  readonly failures: number;
  readonly timeouts: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Per connection, from the start of the TCP connect to the proxy's grant (direct: to the TCP connect). */
  readonly handshakeMs: number[];
  /** Per connection, from the start of the TCP connect to the first byte echoed back through it. */
  readonly firstByteMs: number[];
  /** What went wrong first, if anything did. */
  readonly firstError: string | undefined;
}

const PING = Buffer.from([0x2a]);
const EMPTY = Buffer.alloc(0);
const SWEEP_MS = 100;
/** Past this many failures (and more failures than successes) a loop stops: a refusing proxy must not turn
 * the run into a busy loop. */
const GIVE_UP_FAILURES = 100;

/**
 * `concurrency` loops, each opening a connection to the ping target (TCP connect, SOCKS handshake), sending
 * one byte, waiting for it to come back and for the target to close, over and over until the time is up. The
 * rate counts the connections completed within the duration; those still open at the end are dropped.
 *
 * Written for speed, since the generator must not be what limits the rate it measures: libuv's handles
 * without net.Socket (raw-tcp.ts), one object per loop, the handshake bytes computed once, no promise or
 * closure per connection.
 */
export function measureConnectionRate(plan: ConnectionPlan, spec: ConnectionRateSpec, signal?: AbortSignal): Promise<ConnectionRateResult> {
  return new Promise((resolve) => {
    const run = new Run(plan, spec);
    const finish = (): void => {
      clearTimeout(end);
      clearInterval(sweep);
      signal?.removeEventListener('abort', finish);
      resolve(run.stop());
    };
    const end = setTimeout(finish, spec.durationMs);
    const sweep = setInterval(() => run.sweep(), SWEEP_MS);
    signal?.addEventListener('abort', finish, { once: true });
    run.start();
  });
}

class Run {
  readonly plan: ConnectionPlan;
  readonly spec: ConnectionRateSpec;
  readonly handshakeMs: number[] = [];
  readonly firstByteMs: number[] = [];
  readonly slots: Slot[] = [];
  failures = 0;
  timeouts = 0;
  firstError: string | undefined;
  running = true;
  begun = 0;

  constructor(plan: ConnectionPlan, spec: ConnectionRateSpec) {
    this.plan = plan;
    this.spec = spec;
  }

  start(): void {
    this.begun = performance.now();
    for (let i = 0; i < this.spec.concurrency; i++) this.slots.push(new Slot(this));
    for (const slot of this.slots) slot.open();
  }

  fail(why: string): void {
    this.failures++;
    this.firstError ??= why;
  }

  /** Whether a loop should open another connection. */
  goOn(): boolean {
    return this.running && !(this.failures > GIVE_UP_FAILURES && this.failures > this.handshakeMs.length);
  }

  sweep(): void {
    const oldest = performance.now() - this.spec.timeoutMs;
    for (const slot of this.slots) {
      if (slot.connection && slot.begun < oldest) {
        this.timeouts++;
        slot.failed(`no answer within ${this.spec.timeoutMs} ms`);
      }
    }
  }

  stop(): ConnectionRateResult {
    this.running = false;
    const seconds = (performance.now() - this.begun) / 1000;
    for (const slot of this.slots) slot.drop();
    const connections = this.handshakeMs.length;
    return {
      connections, failures: this.failures, timeouts: this.timeouts, seconds, perSecond: connections / seconds,
      handshakeMs: this.handshakeMs, firstByteMs: this.firstByteMs, firstError: this.firstError,
    };
  }
}

class Slot implements RawOwner {
  readonly run: Run;
  connection: RawConnection | undefined;
  /** Index of the handshake step whose reply is awaited; script.length once granted. */
  step = 0;
  /** The part of a reply that arrived so far, when it came split. */
  pending: Buffer = EMPTY;
  begun = 0;
  granted = 0;
  echoed = 0;

  constructor(run: Run) {
    this.run = run;
  }

  open(): void {
    this.step = 0;
    this.pending = EMPTY;
    this.echoed = 0;
    this.begun = performance.now();
    this.connection = RawConnection.connect(this.run.plan.host, this.run.plan.port, this);
  }

  connected(): void {
    const { script } = this.run.plan;
    if (script.length === 0) this.grant();
    else this.connection?.write(script[0]!.send);
  }

  /** The proxy's grant (direct: the TCP connect): the clock's first mark, then the ping. */
  grant(): void {
    this.granted = performance.now();
    this.connection?.write(PING);
  }

  received(bytes: number): void {
    const { script } = this.run.plan;
    if (this.step >= script.length) {
      this.echoed ||= performance.now();
      return;
    }
    const read = sharedReadBuffer.subarray(0, bytes);
    const data = this.pending.length === 0 ? read : Buffer.concat([this.pending, read]);
    const step = script[this.step]!;
    let decoded;
    try {
      decoded = step.decode(data, 0);
    } catch (error) {
      return this.failed(error instanceof Error ? error.message : String(error));
    }
    if (!decoded.done) {
      this.pending = Buffer.from(data);
      return;
    }
    this.pending = EMPTY;
    const wrong = step.check(decoded.value);
    if (wrong !== undefined) return this.failed(wrong);
    this.step++;
    const rest = data.length - decoded.length;
    if (this.step < script.length) {
      if (rest > 0) return this.failed('the proxy sent more than its reply');
      this.connection?.write(script[this.step]!.send);
      return;
    }
    this.grant();
    if (rest > 0) this.failed('the proxy sent bytes before the ping');
  }

  /** The target closed: the end of a good connection once the byte is back. */
  ended(): void {
    this.connection = undefined;
    if (!this.echoed) return this.failed('connection closed before the byte came back');
    this.run.handshakeMs.push(this.granted - this.begun);
    this.run.firstByteMs.push(this.echoed - this.begun);
    this.next();
  }

  failed(why: string): void {
    this.run.fail(why);
    this.next();
  }

  /** Closes this connection and, while the run lasts, opens the next one. */
  next(): void {
    this.drop();
    if (this.run.goOn()) this.open();
  }

  drop(): void {
    this.connection?.close();
    this.connection = undefined;
  }
}
