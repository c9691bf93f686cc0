// Name resolution under a blackholed name server: how long `localhost` and a live name take while dead names
// are in flight, and lookups/s for hosts-file, numeric, cached and live names, for each mechanism:
//
//   getaddrinfo         dns.lookup as the server uses it today (libuv's pool, 4 threads)
//   getaddrinfo-64env   the same with UV_THREADPOOL_SIZE=64 in the environment
//   getaddrinfo-64set   the same with process.env.UV_THREADPOOL_SIZE = '64' set by the program at startup
//   resolver-dns        lib/resolver, c-ares (the default)
//   resolver-system     lib/resolver over getaddrinfo (its hosts file first, caps sized to the pool)
//
//   node scripts/bench-resolver.ts            (root: every run is a child in its own mount namespace)
//
// No query leaves the machine: each child runs under `unshare -m` with /etc/resolv.conf and /etc/hosts
// bind-mounted to files of ours, whose name server is a responder (test/resolver/dns-responder.ts) on port 53
// of a random 127.x.y.z that answers *.live.bench and never answers dead-*.bench. getaddrinfo keeps glibc's
// defaults (timeout 5 s, 2 attempts), as on a real host. Each dead-name scenario is a fresh process, so lookups
// left in the pool by one never slow the next.

import { spawnSync } from 'node:child_process';
import { lookup as dnsLookup } from 'node:dns';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createResolver } from '../lib/resolver/resolver.ts';
import type { ResolvedAddress } from '../lib/resolver/types.ts';
import { startDnsResponder } from '../test/resolver/dns-responder.ts';

const MECHANISMS = ['getaddrinfo', 'getaddrinfo-64env', 'getaddrinfo-64set', 'resolver-dns', 'resolver-system'] as const;
type Mechanism = (typeof MECHANISMS)[number];
const SCENARIOS = ['rate', 'dead2', 'dead50'] as const;
type Scenario = (typeof SCENARIOS)[number];

/** How long we wait for one lookup in a starved pool before writing it down as "more than". */
const CAP_MS = 12_000;
const RESOLVER_TIMEOUT_MS = 5_000;

type Lookup = (host: string, client: string, callback: (error: NodeJS.ErrnoException | null, addresses: readonly ResolvedAddress[]) => void) => void;

function lookupFor(mechanism: Mechanism): Lookup {
  switch (mechanism) {
    case 'resolver-dns': {
      const resolver = createResolver({ timeoutMs: RESOLVER_TIMEOUT_MS });
      return (host, client, callback) => resolver.lookup(host, client, callback);
    }
    case 'resolver-system': {
      const resolver = createResolver({ timeoutMs: RESOLVER_TIMEOUT_MS, mechanism: 'system' });
      return (host, client, callback) => resolver.lookup(host, client, callback);
    }
    default:
      return (host, _client, callback) => dnsLookup(host, { all: true }, (error, found) =>
        callback(error, error ? [] : found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))));
  }
}

interface Timed {
  readonly ms: number;
  readonly code: string | undefined;
}

function timeOne(lookup: Lookup, host: string, client: string): Promise<Timed> {
  const start = performance.now();
  return new Promise((resolve) => {
    const cap = setTimeout(() => resolve({ ms: CAP_MS, code: 'still waiting' }), CAP_MS);
    lookup(host, client, (error) => {
      clearTimeout(cap);
      resolve({ ms: performance.now() - start, code: error?.code });
    });
  });
}

interface Rate {
  readonly perSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly errors: number;
}

/** `count` lookups, `concurrency` at a time, from one client; `host(i)` names the i-th. */
async function measureRate(lookup: Lookup, host: (i: number) => string, count: number, concurrency: number): Promise<Rate> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    while (next < count) {
      const timed = await timeOne(lookup, host(next++), `client-${w % 4}`);
      latencies.push(timed.ms * 1000);
      if (timed.code !== undefined) errors++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return { perSecond: Math.round(count / seconds), p50Us: at(0.5), p99Us: at(0.99), errors };
}

async function child(mechanism: Mechanism, scenario: Scenario, ip: string): Promise<void> {
  // Set before the first use of the pool, as a program (or a SEA's entry) would do for itself.
  if (mechanism === 'getaddrinfo-64set') process.env.UV_THREADPOOL_SIZE = '64';
  let deadQueries = 0;
  const responder = await startDnsResponder((name) => {
    if (name.endsWith('.live.bench')) return { a: ['192.0.2.1'], aaaa: ['2001:db8::1'], ttl: 300 };
    if (name.startsWith('dead-')) { deadQueries++; return 'blackhole'; }
    return 'nxdomain';
  }, ip, 53);
  const lookup = lookupFor(mechanism);
  let result: Record<string, unknown>;
  if (scenario === 'rate') {
    await timeOne(lookup, 'warm.live.bench', 'warm');
    result = {
      hosts: await measureRate(lookup, () => 'localhost', 20_000, 64),
      numeric: await measureRate(lookup, () => '192.0.2.7', 20_000, 64),
      cached: await measureRate(lookup, () => 'warm.live.bench', 20_000, 64),
      live: await measureRate(lookup, (i) => `n${i}.live.bench`, 2_000, 32),
    };
  } else {
    const dead = scenario === 'dead2' ? 2 : 50;
    const pending = Array.from({ length: dead }, (_, i) => timeOne(lookup, `dead-${i}.bench`, `198.51.100.${i}`));
    // Until the name server has seen the dead queries that could start (getaddrinfo runs a few at a time).
    const started = performance.now();
    while (deadQueries < Math.min(dead, 2) && performance.now() - started < 2_000) await new Promise((r) => setTimeout(r, 5));
    // All three at once, so none is measured after another's wait has let the dead ones finish.
    const [localhost, literal, live] = await Promise.all([
      timeOne(lookup, 'localhost', 'bench'), timeOne(lookup, '192.0.2.7', 'bench'), timeOne(lookup, 'fresh.live.bench', 'bench'),
    ]);
    const firstDead = await pending[0]!;
    result = { localhost, literal, live, firstDead };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await responder.close();
  process.exit(0); // dead lookups may still hold pool threads; they are not what we measure
}

function runChild(mechanism: Mechanism, scenario: Scenario, ip: string, files: { resolvConf: string; hosts: string }): Record<string, unknown> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.UV_THREADPOOL_SIZE;
  if (mechanism === 'getaddrinfo-64env') env.UV_THREADPOOL_SIZE = '64';
  const script = 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && exec "$3" "$4" --child "$5" "$6" "$7"';
  const run = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', files.resolvConf, files.hosts, process.execPath, import.meta.filename, mechanism, scenario, ip], {
    env, encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = run.stdout.trim().split('\n').pop() ?? '';
  if (run.status !== 0 || !line.startsWith('{')) throw new Error(`${mechanism} ${scenario}: exit ${run.status ?? run.signal}: ${(run.stderr || run.stdout).trim().split('\n')[0]}`);
  return JSON.parse(line) as Record<string, unknown>;
}

function ms(timed: unknown): string {
  const { ms: value, code } = timed as Timed;
  const text = value >= CAP_MS ? `> ${CAP_MS}` : value < 10 ? value.toFixed(2) : String(Math.round(value));
  return code === undefined ? text : `${text} (${code})`;
}

function rate(value: unknown): string {
  const r = value as Rate;
  return `${r.perSecond}/s, p50 ${r.p50Us} µs, p99 ${r.p99Us} µs${r.errors ? `, ${r.errors} errors` : ''}`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0 || spawnSync('unshare', ['-m', 'true']).status !== 0) {
    process.stderr.write('bench-resolver: needs root and unshare(1) (each run gets its own /etc/resolv.conf in a mount namespace)\n');
    process.exitCode = 1;
    return;
  }
  const ip = `127.${1 + Math.floor(Math.random() * 254)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'socx-bench-resolver-'));
  const files = { resolvConf: path.join(dir, 'resolv.conf'), hosts: path.join(dir, 'hosts') };
  writeFileSync(files.resolvConf, `nameserver ${ip}\n`);
  writeFileSync(files.hosts, '127.0.0.1 localhost\n::1 localhost ip6-localhost\n');
  try {
    const rows: string[] = [];
    const rates: string[] = [];
    for (const mechanism of MECHANISMS) {
      process.stderr.write(`bench-resolver: ${mechanism}…\n`);
      const [r, d2, d50] = SCENARIOS.map((scenario) => runChild(mechanism, scenario, ip, files));
      rates.push(`| ${mechanism} | ${rate(r!.hosts)} | ${rate(r!.numeric)} | ${rate(r!.cached)} | ${rate(r!.live)} |`);
      for (const [dead, d] of [[2, d2], [50, d50]] as const) {
        rows.push(`| ${mechanism} | ${dead} | ${ms(d!.localhost)} | ${ms(d!.literal)} | ${ms(d!.live)} | ${ms(d!.firstDead)} |`);
      }
    }
    process.stdout.write([
      `Name resolution, name server on ${ip}:53 (loopback), glibc resolv.conf defaults; ${new Date().toISOString()}`,
      '',
      '| mechanism | hosts file (localhost) | numeric | cached name | live name (uncached) |',
      '|---|---|---|---|---|',
      ...rates,
      '',
      'Latency in ms of one lookup while N dead names are in flight (each from its own client):',
      '',
      '| mechanism | dead in flight | localhost | IP literal | live name | first dead name |',
      '|---|---:|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  const [mechanism, scenario, ip] = process.argv.slice(childAt + 1) as [Mechanism, Scenario, string];
  await child(mechanism, scenario, ip);
} else {
  await main();
}
