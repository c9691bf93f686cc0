import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LOOKUP_SOURCES, type LookupSource } from '../resolver/resolver.ts';
import type { LookupErrorCode } from '../resolver/types.ts';
import type { ServerTraffic } from '../server/server.ts';
import { LIMIT_NAMES, OUTCOMES, type ConnectionRecord } from '../server/types.ts';
import { UDP_DROP_REASONS } from '../server/udp-association.ts';
import { VERSION } from '../version.ts';
import { METRIC_PREFIX } from './registry.ts';


/** Rules are the operator's, few; still, a label per distinct text is capped, the rest counted as "other". */
export const MAX_RULE_LABELS = 64;

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the metrics read from the server on a scrape. */
export interface TrafficSource {
  traffic(): ServerTraffic;
}

/** A tally by label value, copied into a counter on each scrape; `known` values are there from the start, at 0
 * (a rate over a series that appears late misses its first increase). */
class Tally {
  readonly counts: Map<string, number>;
  constructor(known: readonly string[] = []) {
    this.counts = new Map(known.map((key) => [key, 0]));
  }

  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
}

const setCounter = (counter: Counter<string>, value: number, labels?: Record<string, string>): void => {
  // A counter has no set(): reset and add, inside collect() where no one else writes to it.
  if (labels) counter.remove(labels);
  else counter.reset();
  if (labels) counter.inc(labels, value);
  else counter.inc(value);
};

/**
 * The server's Prometheus metrics, as views of the connection records and of SocksServer.traffic(). The record
 * events only bump plain numbers (and two histograms); everything else — bytes and datagrams that grow while a
 * relay runs, what is open now — is read from the server when Prometheus scrapes, so a relay pays nothing for
 * being watched. No label carries a client address or a target.
 */
export class ServerMetrics {
  readonly registry: Registry;
  #source: TrafficSource | undefined;
  #snapshot: ServerTraffic | undefined;
  #accepted = 0;
  readonly #outcomes = new Tally(OUTCOMES);
  readonly #handshakes = new Tally();
  #authFailures = 0;
  readonly #rules = new Tally();
  readonly #lookups = new Tally(LOOKUP_SOURCES);
  readonly #queries = new Tally(['ok']);
  readonly #handshakeSeconds: Histogram<string>;
  readonly #connectSeconds: Histogram<string>;
  readonly #querySeconds: Histogram<string>;

  constructor(registry: Registry) {
    this.registry = registry;
    const registers = [registry];
    const name = (text: string): string => `${METRIC_PREFIX}${text}`;
    const gauge = (text: string, help: string, read: (t: ServerTraffic) => number): void => {
      const get = (): ServerTraffic | undefined => this.#traffic();
      new Gauge({ name: name(text), help, registers, collect() { const t = get(); if (t) this.set(read(t)); } });
    };
    const pulled = (text: string, help: string, labelName: string, values: Record<string, (t: ServerTraffic) => number>): void => {
      const get = (): ServerTraffic | undefined => this.#traffic();
      new Counter({
        name: name(text), help, labelNames: [labelName], registers,
        collect() {
          const t = get();
          if (t) for (const [value, read] of Object.entries(values)) setCounter(this, read(t), { [labelName]: value });
        },
      });
    };
    const tallied = (text: string, help: string, labelNames: string[], tally: () => Iterable<[string, number]>, split: (key: string) => Record<string, string>): void => {
      new Counter({ name: name(text), help, labelNames, registers, collect() { for (const [key, count] of tally()) setCounter(this, count, split(key)); } });
    };

    // Once in the totals of serve --workers (summed, it would count the workers).
    new Gauge({ name: name('build_info'), help: 'socx version (always 1)', labelNames: ['version'], registers, aggregator: 'first' }).set({ version: VERSION }, 1);
    const accepted = (): number => this.#accepted;
    new Counter({ name: name('connections_accepted_total'), help: 'Client connections accepted (those a limit turned away at once are in socx_limit_hits_total)', registers, collect() { setCounter(this, accepted()); } });
    gauge('connections_active', 'Client connections open now, every state', (t) => t.open.connections);
    gauge('handshakes_active', 'Client connections still in their handshake', (t) => t.open.handshakes);
    gauge('binds_active', 'BIND requests listening for or relaying a peer', (t) => t.open.binds);
    gauge('udp_associations_active', 'UDP associations open', (t) => t.open.udpAssociations);
    tallied('connections_total', 'Client connections ended, by outcome', ['outcome'], () => this.#outcomes.counts, (outcome) => ({ outcome }));
    tallied('handshakes_total', 'Handshakes by SOCKS version and the method chosen (SOCKS4 has none)', ['version', 'method'], () => this.#handshakes.counts, (key) => {
      const [version = '', method = ''] = key.split('/');
      return { version, method };
    });
    const authFailures = (): number => this.#authFailures;
    new Counter({ name: name('auth_failures_total'), help: 'Failed username/password logins', registers, collect() { setCounter(this, authFailures()); } });
    tallied('rule_refusals_total', `Requests refused by a policy rule, by rule (at most ${MAX_RULE_LABELS} distinct, then "other")`, ['rule'], () => this.#rules.counts, (rule) => ({ rule }));
    pulled('relayed_bytes_total', 'TCP payload bytes relayed (CONNECT and BIND), up: client to target; counted while relays run', 'direction', { up: (t) => t.bytesUp, down: (t) => t.bytesDown });
    pulled('udp_datagrams_total', 'UDP datagrams relayed, up: client to target', 'direction', { up: (t) => t.udp.datagramsUp, down: (t) => t.udp.datagramsDown });
    pulled('udp_relayed_bytes_total', 'UDP payload bytes relayed, up: client to target', 'direction', { up: (t) => t.udp.bytesUp, down: (t) => t.udp.bytesDown });
    pulled('udp_dropped_datagrams_total', 'UDP datagrams not relayed, by reason', 'reason', Object.fromEntries(UDP_DROP_REASONS.map((reason) => [reason, (t: ServerTraffic) => t.udp.drops[reason]])));
    pulled('limit_hits_total', 'Connections refused or dropped by a limit, by its option', 'limit', Object.fromEntries(LIMIT_NAMES.map((limit) => [limit, (t: ServerTraffic) => t.limitHits[limit]])));
    tallied('dns_lookups_total', 'Name lookups by where the answer came from (hosts file, cache, a query) or refused by a cap', ['source'], () => this.#lookups.counts, (source) => ({ source }));
    tallied('dns_queries_total', 'Name queries by result (ok or the error code)', ['result'], () => this.#queries.counts, (result) => ({ result }));
    this.#querySeconds = new Histogram({ name: name('dns_query_duration_seconds'), help: 'How long name queries took to answer', buckets: LATENCY_BUCKETS, registers });
    this.#handshakeSeconds = new Histogram({ name: name('handshake_duration_seconds'), help: 'From accept to the request read', buckets: LATENCY_BUCKETS, registers });
    this.#connectSeconds = new Histogram({ name: name('connect_duration_seconds'), help: 'Connecting to the target (or upstream)', buckets: LATENCY_BUCKETS, registers });
  }

  /** The server to read on scrapes. */
  watch(source: TrafficSource): void {
    this.#source = source;
  }

  /** One traffic() per scrape (it walks the open connections), however many metrics read it: the collect()
   * calls of one scrape run in one turn of the event loop, and the snapshot is forgotten at the next. */
  #traffic(): ServerTraffic | undefined {
    if (this.#snapshot === undefined && this.#source) {
      this.#snapshot = this.#source.traffic();
      setImmediate(() => { this.#snapshot = undefined; });
    }
    return this.#snapshot;
  }

  connectionStarted(): void {
    this.#accepted++;
  }

  connectionEnded(record: ConnectionRecord): void {
    const { outcome } = record;
    this.#outcomes.add(outcome);
    if (record.version !== undefined) this.#handshakes.add(`${record.version}/${record.method ?? 'none'}`);
    if (outcome === 'refused-auth' && record.method === 'userpass') this.#authFailures++;
    if (outcome === 'refused-rule' && record.rule !== undefined) this.#rules.add(this.#rules.counts.has(record.rule) || this.#rules.counts.size < MAX_RULE_LABELS ? record.rule : 'other');
    if (record.command !== undefined) this.#handshakeSeconds.observe(record.handshakeMs / 1000);
    if (record.connectMs !== undefined) this.#connectSeconds.observe(record.connectMs / 1000);
  }

  lookup(source: LookupSource, error: LookupErrorCode | undefined, durationMs: number): void {
    this.#lookups.add(source);
    if (source !== 'query') return;
    this.#queries.add(error ?? 'ok');
    this.#querySeconds.observe(durationMs / 1000);
  }
}
