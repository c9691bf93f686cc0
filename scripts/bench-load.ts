// npm run bench:load [-- more compare.sh options, e.g. -r 5 or --quick]
//
// The independent cross-check: socksload's compare.sh (C, epoll + threads; ../shared/tools/socksload, see its
// README) against the built `dist/socx serve`, Dante and microsocks, and direct TCP, in one interleaved run
// of the tests the performance targets are written against. It starts socx serve itself on a free loopback
// port (compare.sh starts the two peers), prints compare.sh's table and writes it to BENCHMARKS.md between
// the markers below. Needs `npm run build` first, microsocks and dante-server from apt, and root (compare.sh
// reads other processes' CPU and renices them).

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { compareScript, packageVersion, quote, runCompare, runScript, startSocxServe, writeSection, type Proxy } from './bench-support.ts';

const BEGIN = '<!-- bench:load:begin: written by npm run bench:load; edit outside these markers -->';
const END = '<!-- bench:load:end -->';
const TESTS = 'idle1k,tp1,tp4,cr16,rttpin,cr1pin,idle9k';

const proxies: Proxy[] = [];
runScript('bench:load', proxies, async () => {
  compareScript();
  const serve = await startSocxServe('dist');
  proxies.push(serve);
  const out = await mkdtemp(path.join(os.tmpdir(), 'socx-bench-load-'));
  try {
    const args = ['--tests', TESTS, '--peers', 'microsocks,dante', '-o', out, ...process.argv.slice(2), `socx=127.0.0.1:${serve.port}/${serve.pid}`];
    process.stderr.write(`bench:load: compare.sh ${quote(args)}\n`);
    await runCompare(args);
    const summary = (await readFile(path.join(out, 'summary.md'), 'utf8')).trim().replace(/^# /, '### ');
    const section = [
      BEGIN,
      '## socksload comparison (`npm run bench:load`)',
      '',
      `- Peers: microsocks ${packageVersion('microsocks')}, Dante ${packageVersion('dante-server')} (Debian packages), socx serve from \`dist/socx\``,
      `- Command: \`npm run bench:load\`, which ran \`compare.sh ${quote(args.filter((arg) => arg !== '-o' && arg !== out))}\``,
      '',
      summary,
      END,
    ].join('\n');
    await writeSection(BEGIN, END, section);
    process.stdout.write(`${section}\n\nwritten to BENCHMARKS.md\n`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
