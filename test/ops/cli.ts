/** Runs the sources (node cmd/main.ts), for the ops tests that need no built binary. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cac, type Command } from 'cac';
import { registerServe } from '../../cmd/serve.ts';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

export interface Result { code: number | null; stdout: string; stderr: string }

export function socxSource(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Result {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'cmd', 'main.ts'), ...args], {
    encoding: 'utf8', timeout: 30_000, input: options.input ?? '', env: { ...process.env, SOCX_AUTH: undefined, ...options.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The serve command as cac declares it (its options are the config file's keys). */
export function serveCommand(): Command {
  const cli = cac('socx');
  registerServe(cli);
  const command = cli.commands.find((c) => c.name === 'serve');
  if (!command) throw new Error('no serve command');
  return command;
}

/** A private temporary directory with files in it; `remove()` deletes it. */
export function tempFiles(files: Record<string, string> = {}, mode = 0o600): { dir: string; path(name: string): string; write(name: string, text: string, fileMode?: number): string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'socx-ops-'));
  const write = (name: string, text: string, fileMode = mode): string => {
    const file = path.join(dir, name);
    writeFileSync(file, text, { mode: fileMode });
    return file;
  };
  for (const [name, text] of Object.entries(files)) write(name, text);
  return { dir, path: (name) => path.join(dir, name), write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
