// npm run bench [-- more socx bench options]
//
// Runs `socx bench --udp` (from the sources: no build needed) against socx serve, microsocks and Dante, each
// started here on a free loopback port, in one interleaved run, and writes the tables to BENCHMARKS.md between
// the markers below (text outside them is kept). microsocks and Dante come from apt (see .ci/run).

import type { BenchJson } from '../lib/bench/summary.ts';
import { cpuGrid, renderMarkdown, resultsGrid, tableNotes } from '../lib/bench/table.ts';
import { packageVersion, proxyArgs, quote, runBench, runScript, startProxies, writeSection, type Proxy } from './bench-support.ts';

const BEGIN = '<!-- bench:begin: written by npm run bench; edit outside these markers -->';
const END = '<!-- bench:end -->';
const DEFAULTS: ReadonlyArray<[string, string]> = [['--repeat', '3'], ['--duration', '1.5s']];
/** microsocks has no UDP relay: its column says so. */
const FLAGS = ['--udp'];

function report(json: BenchJson, command: string): string {
  const { machine } = json;
  return [
    BEGIN,
    `## Latest run`,
    '',
    `- Date: ${json.date.slice(0, 10)}`,
    `- Machine: ${machine.cpus} cores (${machine.model}), ${machine.memoryGiB} GiB, ${machine.os}, node ${machine.node}`,
    `- Peers: microsocks ${packageVersion('microsocks')}, Dante ${packageVersion('dante-server')} (Debian packages), socx serve from this tree`,
    `- Command: \`npm run bench\`, which ran \`${command}\``,
    `- ${tableNotes(json)}`,
    '',
    renderMarkdown(resultsGrid(json)),
    '',
    'CPU during each run, % of one core: the proxy (its process and children) / the generator (`socx bench`) / the targets\' process.',
    '',
    renderMarkdown(cpuGrid(json)),
    END,
  ].join('\n');
}

const proxies: Proxy[] = [];
runScript('bench', proxies, async () => {
  await startProxies(proxies);
  const given = process.argv.slice(2);
  const defaults = DEFAULTS.filter(([flag]) => !given.some((arg) => arg === flag || arg.startsWith(`${flag}=`))).flat();
  const flags = FLAGS.filter((flag) => !given.includes(flag));
  const args = [...defaults, ...flags, ...given, ...proxyArgs(proxies)];
  const command = `socx bench ${quote(args)}`;
  process.stderr.write(`bench: ${command}\n`);
  const section = report(await runBench(args), command);
  await writeSection(BEGIN, END, section);
  process.stdout.write(`${section}\n\nwritten to BENCHMARKS.md\n`);
});
