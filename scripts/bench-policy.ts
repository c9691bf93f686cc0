// Policy check micro-benchmark (a script, not a test): nanoseconds per Policy.check, the cost the server pays
// per connection and per UDP datagram, with no rules, 10 rules and 100 rules. No rule matches the query, so
// every rule is tried (the worst case) before the defaults decide. Also counts garbage collections during the
// timed loops: none in a few million checks means a check allocates nothing.
//
//   node scripts/bench-policy.ts [--checks 500000] [--runs 5]

import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Policy, type PolicyQuery } from '../lib/policy/policy.ts';

const { values } = parseArgs({
  options: { checks: { type: 'string', default: '500000' }, runs: { type: 'string', default: '5' } },
});
const checks = Number(values.checks);
const runs = Number(values.runs);

/** `count` rules of every kind, none of which matches the queries below. */
function rules(count: number): string[] {
  const kinds = [
    (i: number) => `deny to=203.0.${i % 256}.0/24`,
    (i: number) => `deny to=2001:db8:${i.toString(16)}::/48`,
    (i: number) => `deny to=host${i}.example.com`,
    (i: number) => `deny to=*.zone${i}.example`,
    (i: number) => `deny from=198.18.${i % 256}.0/24`,
    (i: number) => `deny port=${10000 + i}`,
    (i: number) => `allow user=user${i} cmd=bind`,
    (i: number) => `deny to=192.0.${i % 256}.0/24 port=1-1024 cmd=connect`,
    (i: number) => `allow from=2001:db8:ffff:${i.toString(16)}::/64 to=private`,
    (i: number) => `deny cmd=udp to=*.svc${i}.internal`,
  ];
  return Array.from({ length: count }, (_, i) => kinds[i % kinds.length]?.(i) ?? 'deny any');
}

/** 1024 queries per kind, each to another address from another client, so that no check reuses the reading of
 * the one before (IpKey remembers the last text it read: a UDP stream to one destination is cheaper). */
function queries(make: (i: number) => PolicyQuery): PolicyQuery[] {
  return Array.from({ length: 1024 }, (_, i) => make(i));
}
const v4 = (i: number) => `198.51.${i >> 8}.${i & 0xff}`;
const kinds: ReadonlyArray<readonly [string, PolicyQuery[]]> = [
  ['IPv4', queries((i) => ({ clientIp: v4(i + 1), destIp: v4(i), destName: undefined, port: 443, command: 'connect', user: 'alice' }))],
  ['IPv6', queries((i) => ({ clientIp: `2001:db8:aaaa::${(i + 1).toString(16)}`, destIp: `2001:db8:beef::${i.toString(16)}`, destName: undefined, port: 443, command: 'connect', user: 'alice' }))],
  ['name→IPv4', queries((i) => ({ clientIp: v4(i + 1), destIp: v4(i), destName: `www${i}.Example.org`, port: 443, command: 'connect', user: 'alice' }))],
];

let collections = 0;
new PerformanceObserver((list) => { collections += list.getEntries().length; }).observe({ entryTypes: ['gc'] });

function nsPerCheck(policy: Policy, batch: readonly PolicyQuery[]): number {
  let allowed = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < checks; i++) if (policy.check(batch[i & 1023] as PolicyQuery, true).allowed) allowed++;
  const ns = Number(process.hrtime.bigint() - start) / checks;
  if (allowed !== checks) throw new Error('a rule matched: the benchmark no longer measures a full scan');
  return ns;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Median ns per check over `runs` runs, and the garbage collections during them (observer entries arrive
 * on a later turn of the event loop, hence the short waits). */
async function measure(policy: Policy, batch: readonly PolicyQuery[]): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 20));
  const before = collections;
  const ns = median(Array.from({ length: runs }, () => nsPerCheck(policy, batch)));
  await new Promise((resolve) => setTimeout(resolve, 20));
  return `${ns.toFixed(0)} (${collections - before})`;
}

console.log(`policy check: ns per check, median of ${runs} runs of ${checks} checks (in brackets: GCs during them);`);
console.log('exposed listener, no rule matching, every check another address');
console.log(['rules', ...kinds.map(([name]) => name)].map((c) => c.padStart(14)).join(''));
for (const count of [0, 10, 100]) {
  const policy = Policy.parse(rules(count));
  for (const [, batch] of kinds) nsPerCheck(policy, batch); // warm up: let the JIT settle
  const cells: string[] = [];
  for (const [, batch] of kinds) cells.push(await measure(policy, batch));
  console.log([String(count), ...cells].map((c) => c.padStart(14)).join(''));
}
