// Builds a Node single executable application (SEA) from one CommonJS bundle.
//
//   1. `node --experimental-sea-config` writes the preparation blob, using the SAME node binary
//      that becomes the executable (a blob only works with the node version that produced it);
//   2. that binary is copied and stripped (before injection: stripping afterwards breaks the SEA);
//   3. postject injects the blob as the NODE_SEA_BLOB resource and flips the sentinel fuse.
//
// Usable on its own: node scripts/sea.ts <bundle.cjs> <output-executable>

import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const RESOURCE_NAME = 'NODE_SEA_BLOB';

type Inject = (
  filename: string,
  resourceName: string,
  resourceData: Buffer,
  options?: { sentinelFuse?: string; machoSegmentName?: string; overwrite?: boolean },
) => Promise<void>;

export interface SeaOptions {
  /** The CommonJS bundle to embed (must only require node built-ins). */
  readonly main: string;
  /** Path of the executable to write. */
  readonly output: string;
  /** The node binary to embed into; defaults to the one running this script. */
  readonly node?: string;
}

export interface SeaResult {
  /** Why the binary was not stripped, when it was not. */
  readonly stripSkipped?: string;
}

/** Whether a working `strip` is on PATH. */
function hasStrip(): boolean {
  const probe = spawnSync('strip', ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}

function run(file: string, args: readonly string[]): void {
  try {
    execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (error) {
    const err = error as { stderr?: string; stdout?: string; message: string };
    const detail = (err.stderr || err.stdout || err.message).trim().split('\n')[0];
    throw new Error(`${path.basename(file)} failed: ${detail}`);
  }
}

// LIEF (inside postject's wasm) warns through console.warn, bound when inject() loads the module,
// about every ELF note it cannot name ("Can't find string offset for section name '.note.100'"):
// harmless, so those are dropped; anything else is passed on.
const HARMLESS = /^warning: Can't find string offset for section name '\.note/;

async function quietly<T>(action: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!(args.length === 1 && typeof args[0] === 'string' && HARMLESS.test(args[0]))) warn(...args);
  };
  try {
    return await action();
  } finally {
    console.warn = warn;
  }
}

export async function buildSea(options: SeaOptions): Promise<SeaResult> {
  const node = options.node ?? process.execPath;
  const main = path.resolve(options.main);
  const output = path.resolve(options.output);
  const work = await mkdtemp(path.join(tmpdir(), 'socx-sea-'));
  const partial = `${output}.partial`;
  try {
    const blob = path.join(work, 'sea-prep.blob');
    const config = path.join(work, 'sea-config.json');
    await writeFile(config, JSON.stringify({
      main,
      output: blob,
      disableExperimentalSEAWarning: true,
      // The code cache speeds up startup; a startup snapshot would break cluster.fork().
      useCodeCache: true,
      useSnapshot: false,
      // The inspector must never be reachable in a released binary: once open on 127.0.0.1:9229, any local user
      // can run code as the proxy's user. SIGUSR1 opens it by default, and serve's own SIGUSR1 handler (the
      // status) only takes over once the bundle runs; --disable-sigusr1 would close that gap but also blocks the
      // signal for JavaScript, so there would be no status. Instead the inspector's address is one no machine
      // has (192.0.2.1, TEST-NET-1, RFC 5737): if a SIGUSR1 ever reaches Node's handler, the inspector fails to
      // bind and the process goes on. "none" makes the executable ignore NODE_OPTIONS (--inspect there would
      // otherwise work); its command-line flags are the application's own, and cac rejects --inspect.
      execArgv: ['--inspect-port=192.0.2.1:9229'],
      execArgvExtension: 'none',
    }));
    run(node, ['--experimental-sea-config', config]);

    await copyFile(node, partial);
    await chmod(partial, 0o755);
    let stripSkipped: string | undefined;
    if (hasStrip()) run('strip', [partial]);
    else stripSkipped = '`strip` not found, executable left unstripped';

    const require = createRequire(import.meta.url);
    const { inject } = require('postject') as { inject: Inject };
    const data = await readFile(blob);
    await quietly(() => inject(partial, RESOURCE_NAME, data, { sentinelFuse: SENTINEL_FUSE }));
    await chmod(partial, 0o755);
    await rename(partial, output);
    return stripSkipped === undefined ? {} : { stripSkipped };
  } finally {
    await rm(partial, { force: true });
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const [main, output] = process.argv.slice(2);
  if (main === undefined || output === undefined) {
    process.stderr.write('usage: node scripts/sea.ts <bundle.cjs> <output-executable>\n');
    process.exit(2);
  }
  buildSea({ main, output }).then(
    (result) => { if (result.stripSkipped) process.stderr.write(`sea: note: ${result.stripSkipped}\n`); },
    (error: unknown) => {
      process.stderr.write(`sea: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
