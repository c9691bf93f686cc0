import { dirname, resolve } from 'node:path';
import type { Command } from 'cac';
import { stringify } from 'yaml';
import { ConfigFileError, parseYamlTree, scalarOrList, type YamlEntry, type YamlValue } from '../lib/config/yaml-tree.ts';
import { fileErrorText, SocxError, usageError } from '../lib/errors.ts';
import { withoutWarnings } from './output.ts';
import { rawKey, type ShownSettings } from './serve-settings.ts';
import { readSettingsFile } from './settings-files.ts';
import { warnIfShared } from './serve-users.ts';

/**
 * `socx serve --config FILE`: the file yields the same raw options record that cac makes of the command line
 * (camelCase keys), so parseServeOptions validates both in one place. Every flag of the serve command but those
 * in notKeys is a key, spelt as the flag without its dashes (`max-connections: 100`, `handshake-timeout: 10s`;
 * `--no-udp` is `udp: false`); a flag added to the command is a key without any change here. Precedence: cac's
 * defaults, then the file, then the flags actually given.
 *
 * Keys that are not flags: `users-file` (the --users flag), `users` (a map of user: password or $scrypt$ hash),
 * `rules` (an ordered list of "allow RULE" / "deny RULE", passed on as raw.rules), `listeners` (a list of
 * addresses, the long form of `listen`, each with its own `auth` and `proxy-protocol` if wanted).
 */

export interface FlagKey {
  /** The raw record's key (cac's camelCase name). */
  readonly key: string;
  readonly boolean: boolean;
  /** The flag may be given more than once, so the key takes a list: its --help says "repeatable". */
  readonly repeatable: boolean;
  /** What one value is, in words: "a duration". */
  readonly value: string;
  readonly description: string;
}

/** Flags that are not config keys, and why. */
const notKeys: Readonly<Record<string, string>> = {
  config: 'a config file cannot name another one',
  checkConfig: 'pass --check-config on the command line',
  users: 'the users file is "users-file:"; "users:" is a map of user: password',
  allow: 'policy rules go in "rules:", a list of "allow RULE" / "deny RULE" in the order they apply',
  deny: 'policy rules go in "rules:", a list of "allow RULE" / "deny RULE" in the order they apply',
};

/** Where --check-config shows the file-only keys: beside the flag they stand for. */
const shownWith: Readonly<Record<string, readonly string[]>> = {
  listen: ['listen', 'listeners'],
  users: ['users-file', 'users'],
  allow: ['rules'],
};

/** The settings a listener may have of its own; anything else is refused by name rather than ignored. */
const LISTENER_KEYS = new Set(['address', 'auth', 'proxy-protocol']);

/** A flag's value placeholder (`<duration, bare = ms>`) in words, for "must be …, not a list". */
function valueWords(placeholder: string): string {
  if (placeholder.startsWith('duration')) return 'a duration';
  const words: Readonly<Record<string, string>> = { 'n': 'a whole number', 'n|auto': 'a whole number or auto', 'text|json': 'text or json', 'path': 'a file name', 'addr': 'an IP address', 'low-high': 'a port range LOW-HIGH', 'host:port': 'an address host:port' };
  return words[placeholder] ?? 'one value';
}

/** The flag's name in the file: its long form without the dashes and without "no-". */
const fileKey = (option: Command['options'][number]): string | undefined => /--(?:no-)?([a-z0-9][a-z0-9-]*)/.exec(option.rawName)?.[1];

/** The config keys that are flags, by their spelling in the file. */
export function flagKeys(command: Command): Map<string, FlagKey> {
  const keys = new Map<string, FlagKey>();
  for (const option of command.options) {
    const long = fileKey(option);
    if (long === undefined || option.name in notKeys || option.name === 'help') continue;
    keys.set(long, {
      key: option.name,
      boolean: option.isBoolean === true,
      repeatable: /\brepeatable\b/.test(option.description),
      value: valueWords(/<([^>]*)>/.exec(option.rawName)?.[1] ?? ''),
      description: option.negated ? `false: ${option.description}` : option.description,
    });
  }
  return keys;
}

/** Where a config file entry set raw keys: its line, and for a list or a map the line and value of each item
 * or entry (a list or map of that one alone), so that a problem with one of them can be given its own line. */
export interface FileSpot {
  readonly line: number;
  /** The raw keys the entry set, its own first (`listeners:` sets `listen` and the per-listener lists). */
  readonly keys: readonly [string, ...string[]];
  /** Each item or map entry alone: the raw values it sets, for the keys above. */
  readonly parts: ReadonlyArray<{ readonly line: number; readonly values: Readonly<Record<string, unknown>> }>;
}

/** `spots` receives where each entry of the file is. */
export function readConfigFile(path: string, command: Command, spots?: FileSpot[]): Record<string, unknown> {
  let text: string;
  try {
    text = readSettingsFile(path);
  } catch (error) {
    throw usageError(`cannot read config file ${path}: ${fileErrorText(error)}`);
  }
  try {
    const raw = configToRaw(parseYamlTree(text), command, spots);
    // A users file named in the config sits beside it, wherever serve is started from.
    if (typeof raw.users === 'string') raw.users = resolve(dirname(path), raw.users);
    if (raw.inlineUsers !== undefined || raw.auth !== undefined) warnIfShared(path, 'config file with passwords');
    return raw;
  } catch (error) {
    if (error instanceof ConfigFileError) throw usageError(`config file ${path}, line ${error.line}: ${error.message}`);
    throw error;
  }
}

/** The raw options record of a parsed config file. */
export function configToRaw(tree: YamlValue, command: Command, spots?: FileSpot[]): Record<string, unknown> {
  if (tree.kind === 'scalar' && tree.value === null) return {};
  if (tree.kind !== 'map') throw new ConfigFileError(tree.line, 'a config file is a map of settings (key: value lines)');
  const flags = flagKeys(command);
  const raw: Record<string, unknown> = {};
  const fileOnly: Readonly<Record<string, [string, (entry: YamlEntry) => unknown]>> = {
    'users-file': ['users', scalarText],
    users: ['inlineUsers', readUsersMap],
    rules: ['rules', readRules],
    listeners: ['listen', readListeners],
  };
  for (const entry of tree.entries) {
    const special = fileOnly[entry.key];
    const key = special ? special[0] : readFlagKey(entry, flags);
    const value = special ? special[1](entry) : readFlagValue(entry, flags.get(entry.key));
    raw[key] = value;
    const keys: [string, ...string[]] = [key];
    const listeners = entry.key === 'listeners' ? { noAuthListeners: listenersWhere(entry, 'auth', false), proxyProtocolListeners: listenersWhere(entry, 'proxy-protocol', true) } : {};
    for (const [listKey, positions] of Object.entries(listeners)) {
      if (positions.length === 0) continue;
      raw[listKey] = positions;
      keys.push(listKey);
    }
    // A listener alone is the first of its list, with its own settings.
    const alone = (index: number): Record<string, number[]> => Object.fromEntries(Object.entries(listeners).map(([listKey, positions]) => [listKey, positions.includes(index) ? [0] : []]));
    spots?.push({ line: entry.line, keys, parts: partsOf(entry.value, value).map((part, index) => ({ line: part.line, values: { [key]: part.value, ...alone(index) } })) });
  }
  if (tree.entries.some((e) => e.key === 'listen') && tree.entries.some((e) => e.key === 'listeners')) {
    throw new ConfigFileError(tree.entries.find((e) => e.key === 'listeners')?.line ?? 1, 'give either "listen:" or "listeners:", not both');
  }
  return raw;
}

function readFlagKey(entry: YamlEntry, flags: ReadonlyMap<string, FlagKey>): string {
  const flag = flags.get(entry.key);
  if (flag) return flag.key;
  const why = notKeys[rawKey(entry.key)];
  if (why) throw new ConfigFileError(entry.line, `"${entry.key}" is not a config key: ${why}`);
  const spelt = [...flags.keys()].find((name) => name.replaceAll('-', '') === entry.key.replaceAll(/[-_]/g, '').toLowerCase());
  throw new ConfigFileError(entry.line, `unknown key "${entry.key}"${spelt ? ` (did you mean "${spelt}"?)` : ''}`);
}

/** Each item of a list, each entry of a map, alone, in the form the raw record holds it. */
function partsOf(yaml: YamlValue, value: unknown): Array<{ line: number; value: unknown }> {
  if (yaml.kind === 'list' && Array.isArray(value) && value.length === yaml.items.length) {
    return yaml.items.map((item, index) => ({ line: item.line, value: [value[index]] }));
  }
  if (yaml.kind === 'map' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const entries = new Map(Object.entries(value));
    return yaml.entries.flatMap((entry) => (entries.has(entry.key) ? [{ line: entry.line, value: { [entry.key]: entries.get(entry.key) } }] : []));
  }
  return [];
}

function readFlagValue(entry: YamlEntry, flag: FlagKey | undefined): unknown {
  const value = scalarOrList(entry.value);
  if (flag?.boolean) {
    if (typeof value !== 'boolean') throw new ConfigFileError(entry.value.line, `"${entry.key}" must be true or false`);
    return value;
  }
  if (Array.isArray(value) && flag?.repeatable === false) throw new ConfigFileError(entry.value.line, `"${entry.key}" must be ${flag.value}, not a list`);
  const items = entry.value.kind === 'list' ? entry.value.items : [entry.value];
  const bad = items.find((item) => item.kind !== 'scalar' || item.value === null || typeof item.value === 'boolean');
  if (value === undefined || bad !== undefined) {
    throw new ConfigFileError(bad?.line ?? entry.value.line, `"${entry.key}" needs a value (a string or number, or a list of them)`);
  }
  // Numbers stay numbers, as cac (through mri) gives them for the same text on the command line.
  return value;
}

function scalarText(entry: YamlEntry): string {
  if (entry.value.kind !== 'scalar' || typeof entry.value.value !== 'string') throw new ConfigFileError(entry.value.line, `"${entry.key}" must be a file name`);
  return entry.value.value;
}

/** `users: {alice: secret, bob: "$scrypt$…"}`. Passwords must be strings: YAML would read 0123 as the
 * number 123. */
function readUsersMap(entry: YamlEntry): Record<string, string> {
  if (entry.value.kind !== 'map') throw new ConfigFileError(entry.value.line, '"users" is a map of user: password (or user: $scrypt$… hash)');
  const users: Record<string, string> = {};
  for (const user of entry.value.entries) {
    if (user.value.kind !== 'scalar' || typeof user.value.value !== 'string') {
      throw new ConfigFileError(user.line, `the password of "${user.key}" must be a string: put it in quotes`);
    }
    users[user.key] = user.value.value;
  }
  return users;
}

/** Only the verb is checked here; the rule itself is parsed with --allow/--deny's parser. */
function readRules(entry: YamlEntry): string[] {
  if (entry.value.kind !== 'list') throw new ConfigFileError(entry.value.line, '"rules" is a list of "allow RULE" or "deny RULE", first match wins');
  return entry.value.items.map((item) => {
    if (item.kind !== 'scalar' || typeof item.value !== 'string' || !/^(allow|deny)(\s+\S.*)?$/.test(item.value.trim())) {
      throw new ConfigFileError(item.line, 'each rule is "allow RULE" or "deny RULE", e.g. "deny to=private" or "allow from=10.0.0.0/8 port=443"');
    }
    return item.value.trim();
  });
}

function readListeners(entry: YamlEntry): string[] {
  if (entry.value.kind !== 'list') throw new ConfigFileError(entry.value.line, '"listeners" is a list of addresses or {address: …} maps');
  return entry.value.items.map((item) => {
    if (item.kind === 'scalar' && item.value !== null && typeof item.value !== 'boolean') return String(item.value);
    if (item.kind !== 'map') throw new ConfigFileError(item.line, 'a listener is "host:port" or {address: "host:port"}');
    for (const setting of item.entries) {
      if (!LISTENER_KEYS.has(setting.key)) {
        throw new ConfigFileError(setting.line, `per-listener "${setting.key}" is not supported yet: settings apply to every listener (run one socx serve per setting)`);
      }
    }
    const address = item.entries.find((setting) => setting.key === 'address');
    if (address?.value.kind !== 'scalar' || address.value.value === null) throw new ConfigFileError(item.line, 'a listener needs "address: host:port"');
    for (const setting of item.entries) {
      if (setting.key !== 'address' && (setting.value.kind !== 'scalar' || typeof setting.value.value !== 'boolean')) throw new ConfigFileError(setting.line, `"${setting.key}" is true or false`);
    }
    return String(address.value.value);
  });
}

/** The listeners with `key: value`: "auth: false" (their clients get in without a login), "proxy-protocol:
 * true" (a load balancer's PROXY header comes first). */
function listenersWhere(entry: YamlEntry, key: string, value: boolean): number[] {
  if (entry.value.kind !== 'list') return [];
  return entry.value.items.flatMap((item, position) => {
    if (item.kind !== 'map') return [];
    const setting = item.entries.find((candidate) => candidate.key === key);
    return setting?.value.kind === 'scalar' && setting.value.value === value ? [position] : [];
  });
}

/** The listeners a per-listener setting marks, by their place in `listen` (raw.noAuthListeners,
 * raw.proxyProtocolListeners). By place, not by address: two listeners may be written alike ("127.0.0.1:0"
 * twice), and the one with "auth: false" must not open the other. */
export function markedListeners(value: unknown): ReadonlySet<number> {
  return new Set(Array.isArray(value) ? value.filter((position): position is number => typeof position === 'number') : []);
}

export interface MergedRaw {
  readonly raw: Record<string, unknown>;
  readonly defaults: Readonly<Record<string, unknown>>;
  readonly path: string | undefined;
  /** Where the config file set each raw key that the command line did not override. */
  readonly fileSpots: readonly FileSpot[];
}

/** Defaults, then the file, then the flags actually given: cac's raw record for the command, with the
 * command declared with ignoreOptionDefaultValue so that a default never hides a file value. */
export function mergeServeRaw(command: Command, cliRaw: Readonly<Record<string, unknown>>): MergedRaw {
  const defaults: Record<string, unknown> = {};
  for (const option of command.options) if (option.config.default !== undefined) defaults[option.name] = option.config.default;
  const given = Object.fromEntries(Object.entries(cliRaw).filter(([key, value]) => value !== undefined && key !== '--'));
  const path = typeof given.config === 'string' ? given.config : undefined;
  if (given.config !== undefined && path === undefined) throw usageError('--config needs one file name');
  const spots: FileSpot[] = [];
  const file = path === undefined ? {} : readConfigFile(path, command, spots);
  // The file's per-listener settings belong to its listeners: -l replaces them, settings and all.
  if ('listen' in given) {
    delete file.noAuthListeners;
    delete file.proxyProtocolListeners;
  }
  return { raw: { ...defaults, ...file, ...given }, defaults, path, fileSpots: spots.filter((spot) => !(spot.keys[0] in given)) };
}

/** Parses the merged settings; a usage error that one file entry causes on its own is given that entry's
 * line, or the line of the item in it that causes it alone (found by trying each entry, then each of its
 * items, over the defaults, warnings muted). */
export function parseMerged<T>(merged: MergedRaw, parse: (raw: Record<string, unknown>) => T): T {
  try {
    return parse(merged.raw);
  } catch (error) {
    if (!(error instanceof SocxError) || error.code !== 'usage' || merged.path === undefined) throw error;
    const causes = (values: Readonly<Record<string, unknown>>): boolean => {
      const alone = withoutWarnings(() => {
        try {
          parse({ ...merged.defaults, ...values });
          return undefined;
        } catch (trial) {
          return trial;
        }
      });
      return alone instanceof SocxError && alone.message === error.message;
    };
    for (const spot of merged.fileSpots) {
      const entry = Object.fromEntries(spot.keys.map((key) => [key, merged.raw[key]]));
      if (!causes(entry)) continue;
      const part = spot.parts.find(({ values }) => causes({ ...entry, ...values }));
      throw usageError(`config file ${merged.path}, line ${part?.line ?? spot.line}: ${error.message}`);
    }
    throw error;
  }
}

/** The effective settings (parseServeOptions's record, passwords already masked) as YAML, in the file's
 * spelling and the order of the serve flags. */
export function formatEffectiveSettings(command: Command, shown: ShownSettings): string {
  const order = command.options.flatMap((option) => shownWith[option.name] ?? [fileKey(option) ?? option.name]);
  const rank = (key: string): number => (order.includes(key) ? order.indexOf(key) : order.length);
  return stringify(Object.fromEntries(Object.entries(shown).sort(([a], [b]) => rank(a) - rank(b))), { lineWidth: 0 });
}
