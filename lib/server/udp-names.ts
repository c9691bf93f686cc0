export type ResolveCallback = (error: Error | null, address: string, family: 4 | 6) => void;

/** How an association turns a name into one address (the server's Resolver, first answer). */
export type Resolve = (host: string, callback: ResolveCallback) => void;

const NAME_TTL_MS = 60_000;
const NAME_FAILURE_TTL_MS = 5_000;
const MAX_NAMES = 256;
const MAX_QUEUED_PER_NAME = 16;

type NameEntry =
  | { readonly state: 'pending'; readonly queue: Array<{ payload: Buffer; port: number }> }
  | { readonly state: 'ok'; readonly address: string; readonly family: 4 | 6; readonly expires: number }
  | { readonly state: 'failed'; readonly expires: number };

export interface NameRouterHandlers {
  /** Sends a datagram to the address a name resolved to. */
  readonly send: (family: 4 | 6, address: string, port: number, payload: Buffer, name: string) => void;
  /** A datagram that cannot go: its name did not resolve, or too many wait for it. */
  readonly drop: (bytes: number) => void;
  readonly debug?: ((message: string) => void) | undefined;
}

/**
 * Names in UDP datagrams (RFC 1928 §7 allows ATYP 03), resolved by the server: one lookup at a time per name,
 * answers cached a minute (failures five seconds), and the datagrams that arrive meanwhile wait in a short
 * queue. Per association, so its memory goes with it; bounded at MAX_NAMES names.
 */
export class NameRouter {
  readonly #names = new Map<string, NameEntry>();
  readonly #resolve: Resolve;
  readonly #handlers: NameRouterHandlers;
  #stopped = false;

  constructor(resolve: Resolve, handlers: NameRouterHandlers) {
    this.#resolve = resolve;
    this.#handlers = handlers;
  }

  route(name: string, port: number, payload: Buffer): void {
    const entry = this.#names.get(name);
    const now = entry && entry.state !== 'pending' ? Date.now() : 0;
    if (entry?.state === 'ok' && entry.expires > now) return this.#handlers.send(entry.family, entry.address, port, payload, name);
    if (entry?.state === 'failed' && entry.expires > now) return this.#handlers.drop(payload.length);
    if (entry?.state === 'pending') {
      if (entry.queue.length >= MAX_QUEUED_PER_NAME) return this.#handlers.drop(payload.length);
      entry.queue.push({ payload, port });
      return;
    }
    if (this.#names.size >= MAX_NAMES) this.#names.clear();
    const queue = [{ payload, port }];
    this.#names.set(name, { state: 'pending', queue });
    this.#resolve(name, (error, address, family) => {
      if (this.#stopped) return;
      if (error) {
        this.#handlers.debug?.(`UDP: cannot resolve ${name}: ${(error as NodeJS.ErrnoException).code ?? error.message}`);
        this.#names.set(name, { state: 'failed', expires: Date.now() + NAME_FAILURE_TTL_MS });
        for (const item of queue) this.#handlers.drop(item.payload.length);
        return;
      }
      this.#names.set(name, { state: 'ok', address, family, expires: Date.now() + NAME_TTL_MS });
      for (const item of queue) this.#handlers.send(family, address, item.port, item.payload, name);
    });
  }

  /** Forgets everything; lookups still running are ignored when they answer. */
  stop(): void {
    this.#stopped = true;
    this.#names.clear();
  }
}
