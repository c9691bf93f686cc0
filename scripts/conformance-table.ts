// npm run conformance:table [-- --write]
//
// Runs `socx probe --conformance --json` (from the sources: no build needed) against socx serve, microsocks,
// Dante (BIND and UDP on), `ssh -D`, and socx serve and microsocks with a user, each started here on a free
// loopback port, and prints the markdown
// table of README.md's "How servers do". With --write, puts it into README.md between the markers below.
// microsocks, Dante and OpenSSH come from apt (see .ci/run).

import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConformanceReport } from '../lib/probe/conformance.ts';
import { conformanceMarkdown } from '../lib/probe/conformance-report.ts';
import { startProcess } from '../test/support/process.ts';
import { startConformanceServers, type Server } from '../test/probe/servers.ts';

const root = path.resolve(import.meta.dirname, '..');
const entry = path.join(root, 'cmd', 'main.ts');
const readme = path.join(root, 'README.md');
const BEGIN = '<!-- conformance:begin: written by npm run conformance:table -- --write; edit outside these markers -->';
const END = '<!-- conformance:end -->';

async function startSocxServe(args: string[]): Promise<{ host: string; port: number; stop(): Promise<void> }> {
  const serve = await startProcess(process.execPath, [entry, 'serve', '--listen', '127.0.0.1:0', '--quiet', '--grace', '0', ...args], {
    readyPattern: /listening on 127\.0\.0\.1:\d+/,
    readyStream: 'stderr',
    timeoutMs: 15_000,
  });
  const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(serve.output())?.[1]);
  return { host: '127.0.0.1', port, stop: serve.stop };
}

/** `socx probe --conformance --json` against host:port; resolves with the parsed report. */
function runConformance(server: Server): Promise<ConformanceReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, 'probe', '--conformance', '--json', `${server.host}:${server.port}`, ...(server.credentials ? ['-U', server.credentials] : [])], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`socx probe --conformance exited with ${code}`));
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ConformanceReport);
      } catch (error) {
        reject(error);
      }
    });
  });
}

async function main(): Promise<void> {
  const servers = await startConformanceServers(startSocxServe);
  let table: string;
  try {
    process.stderr.write(`running the conformance checks against ${servers.map((server) => server.label).join(', ')} (up to a minute)\n`);
    const reports = await Promise.all(servers.map(async (server) => ({ label: server.label, report: await runConformance(server) })));
    table = conformanceMarkdown(reports);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
  if (!process.argv.includes('--write')) {
    process.stdout.write(table);
    return;
  }
  const text = await readFile(readme, 'utf8');
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no ${BEGIN} … ${END} markers`);
  await writeFile(readme, `${text.slice(0, begin)}${BEGIN}\n${table}${text.slice(end)}`);
  process.stderr.write('wrote the table into README.md\n');
}

await main();
