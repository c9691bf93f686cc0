import { readFileSync } from 'node:fs';

/** The text of each file a settings load read (the config file, the users file), by path. */
export type SettingsFiles = Readonly<Record<string, string>>;

let given: SettingsFiles | undefined;
let read: Record<string, string> = {};

/** A file of the settings: the copy loadWithFiles was given when it has one, else the disk's (throwing as
 * readFileSync does). */
export function readSettingsFile(path: string): string {
  const text = given !== undefined && Object.hasOwn(given, path) ? given[path]! : readFileSync(path, 'utf8');
  read[path] = text;
  return text;
}

/** Runs a settings load with its files read from `files` where it has them, and returns what the load made
 * and the files it read. `serve --workers` loads with the primary's copies, so that every worker (a
 * replacement started after the files changed too) runs the settings the primary last loaded. */
export function loadWithFiles<T>(load: () => T, files?: SettingsFiles): { value: T; files: SettingsFiles } {
  given = files;
  read = {};
  try {
    const value = load();
    return { value, files: read };
  } finally {
    given = undefined;
    read = {};
  }
}
