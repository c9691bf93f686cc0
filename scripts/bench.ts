// npm run bench [-- more socx bench options]
//
// Runs `socx bench` (from the sources: no build needed) against socx serve, microsocks and Dante, each started
// here on a free loopback port, in one interleaved run, and writes the tables to BENCHMARKS.md between the
// markers below (text outside them is kept). microsocks and Dante come from apt (see .ci/run).

import { spawn, spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BenchJson } from '../lib/bench/summary.ts';
import { cpuGrid, renderMarkdown, resultsGrid, tableNotes } from '../lib/bench/table.ts';
import { startDante, startMicrosocks } from '../test/support/peers.ts';
import { startProcess } from '../test/support/process.ts';

const root = path.resolve(import.meta.dirname, '..');
const entry = path.join(root, 'cmd', 'main.ts');
const output = path.join(root, 'BENCHMARKS.md');
const BEGIN = '<!-- bench:begin: written by npm run bench; edit outside these markers -->';
const END = '<!-- bench:end -->';
const DEFAULTS: ReadonlyArray<[string, string]> = [['--repeat', '3'], ['--duration', '1.5s']];

interface Proxy { label: string; port: number; stop(): Promise<void> }

async function startSocxServe(): Promise<Proxy> {
  const serve = await startProcess(process.execPath, [entry, 'serve', '--listen', '127.0.0.1:0', '--quiet', '--grace', '0'], {
    readyPattern: /listening on 127\.0\.0\.1:\d+/,
    readyStream: 'stderr',
    timeoutMs: 15_000,
  });
  const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(serve.output())?.[1]);
  return { label: 'socx serve', port, stop: serve.stop };
}

/** `socx bench --json`, its spinner on our stderr; resolves with the parsed JSON. */
function runBench(args: string[]): Promise<BenchJson> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, 'bench', '--json', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`socx bench exited with ${code}`));
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as BenchJson);
      } catch (error) {
        reject(error);
      }
    });
  });
}

function packageVersion(name: string): string {
  const result = spawnSync('dpkg-query', ['-W', '-f', '${Version}', name], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : 'unknown version';
}

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

async function writeReport(section: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(output, 'utf8');
  } catch {
    text = `# Benchmarks\n\n${BEGIN}\n${END}\n`;
  }
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  text = begin >= 0 && end > begin ? text.slice(0, begin) + section + text.slice(end + END.length) : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(output, text);
}

async function main(): Promise<void> {
  const proxies: Proxy[] = [];
  const stopAll = (): Promise<unknown> => Promise.allSettled(proxies.map((proxy) => proxy.stop()));
  process.once('SIGINT', () => { void stopAll().then(() => process.exit(130)); });
  try {
    proxies.push(await startSocxServe());
    const microsocks = await startMicrosocks();
    proxies.push({ label: 'microsocks', port: microsocks.port, stop: microsocks.stop });
    const dante = await startDante();
    proxies.push({ label: 'Dante', port: dante.port, stop: dante.stop });
    const given = process.argv.slice(2);
    const defaults = DEFAULTS.filter(([flag]) => !given.some((arg) => arg === flag || arg.startsWith(`${flag}=`))).flat();
    const args = [...defaults, ...given, ...proxies.flatMap(({ label, port }) => ['-x', `socks5h://127.0.0.1:${port}`, '--label', label])];
    const quoted = args.map((arg) => (/^[\w./:=-]+$/.test(arg) ? arg : `'${arg}'`)).join(' ');
    process.stderr.write(`bench: socx bench ${quoted}\n`);
    const json = await runBench(args);
    const section = report(json, `socx bench ${quoted}`);
    await writeReport(section);
    process.stdout.write(`${section}\n\nwritten to BENCHMARKS.md\n`);
  } finally {
    await stopAll();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
