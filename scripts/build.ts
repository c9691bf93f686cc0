// npm run build  ->  dist/socx.cjs (esbuild bundle) and dist/socx (Node single executable).
//
//   node scripts/build.ts              bundle + executable + smoke check
//   node scripts/build.ts --bundle     bundle only (fast iteration)
//
// The bundle's entry is generated here (esbuild `stdin`): it imports run() from cmd/main.ts and
// calls it with the user's arguments (see ENTRY), so cmd/main.ts needs no main-module detection
// in the bundle; its own `if (import.meta.main)` is defined to `false` there. The version comes from
// lib/version.ts, which imports package.json (esbuild inlines the JSON).

import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import esbuild from 'esbuild';
import { buildSea } from './sea.ts';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
const bundlePath = path.join(dist, 'socx.cjs');
const exePath = path.join(dist, 'socx');

// process.argv is [node or the executable, the script or argv0 as typed, ...args] in the bundle and in the
// SEA alike, so run() gets just the user's arguments. (serve --workers starts its workers the same way,
// without node:cluster, whose forked SEA workers see one more element.)
const ENTRY = `import { run } from './cmd/main.ts';
run(process.argv.slice(2)).then((code) => { process.exitCode = code; });
`;

function location(message: esbuild.Message): string {
  const where = message.location;
  return where ? `${where.file}:${where.line}:${where.column + 1}: ` : '';
}

async function bundle(): Promise<void> {
  let result: esbuild.BuildResult;
  try {
    result = await esbuild.build({
      stdin: { contents: ENTRY, resolveDir: root, sourcefile: 'socx-entry.ts', loader: 'ts' },
      outfile: bundlePath,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node24',
      minifyWhitespace: true,
      minifySyntax: true,
      // keepNames wraps every function in __name(): 28 µs per connection and objects in dictionary mode.
      keepNames: false,
      legalComments: 'eof',
      define: { 'import.meta.main': 'false' },
      logLevel: 'silent',
    });
  } catch (error) {
    const failure = error as Partial<esbuild.BuildFailure>;
    const first = failure.errors?.[0];
    if (!first) throw error;
    const more = failure.errors!.length > 1 ? ` (+${failure.errors!.length - 1} more errors)` : '';
    throw new Error(`esbuild: ${location(first)}${first.text}${more}`);
  }
  for (const warning of result.warnings) {
    process.stderr.write(`build: warning: ${location(warning)}${warning.text}\n`);
  }
}

/** Runs the executable alone in an empty directory with an empty environment; it must print the version and nothing else. */
async function smokeTest(version: string): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'socx-smoke-'));
  try {
    const exe = path.join(dir, 'socx');
    await copyFile(exePath, exe);
    const child = spawnSync(exe, ['--version'], { cwd: dir, env: {}, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    const { stdout, stderr } = child;
    if (child.error) throw new Error(`smoke test: cannot run dist/socx: ${child.error.message}`);
    if (child.status !== 0) throw new Error(`smoke test: dist/socx --version exited with ${child.status ?? child.signal}: ${stderr.trim().split('\n')[0]}`);
    if (stdout !== `${version}\n`) throw new Error(`smoke test: dist/socx --version printed ${JSON.stringify(stdout)}, expected ${JSON.stringify(`${version}\n`)}`);
    if (stderr !== '') throw new Error(`smoke test: dist/socx --version wrote to stderr: ${stderr.trim().split('\n')[0]}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(0)} kB`;

async function main(): Promise<void> {
  const bundleOnly = process.argv.includes('--bundle');
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) throw new Error(`needs Node >= 24 (the executable embeds the running node), this is ${process.version}; use npm run build`);
  const started = performance.now();
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };
  await mkdir(dist, { recursive: true });
  await bundle();
  const bundleSize = (await stat(bundlePath)).size;
  if (bundleOnly) {
    process.stdout.write(`built dist/socx.cjs (${kb(bundleSize)}) in ${Math.round(performance.now() - started)} ms\n`);
    return;
  }
  const sea = await buildSea({ main: bundlePath, output: exePath });
  await smokeTest(pkg.version);
  const exeSize = (await stat(exePath)).size;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stdout.write(`built dist/socx.cjs (${kb(bundleSize)}) and dist/socx (${mb(exeSize)}, node ${process.version}) in ${seconds} s\n`);
  if (sea.stripSkipped) process.stdout.write(`note: ${sea.stripSkipped}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`build: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
