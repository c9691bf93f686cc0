import { formatDuration, type DurationUnit, type Range } from '../lib/units.ts';
import { durationOption, flagOption, integerOption, listOption, stringOption } from './options.ts';

/** The raw record's key (cac's camelCase) of a flag or config key: `max-connections` is `maxConnections`. */
export const rawKey = (key: string): string => key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The effective settings by config-file key, in the file's own forms (`10s`, lists, `false`); secrets masked. */
export type ShownSettings = Readonly<Record<string, unknown>>;

/**
 * Reads serve's raw options (the flags over the config file over the defaults) and, beside each value it
 * hands to the server, records that value as the config file writes it. --check-config prints the record:
 * what it shows comes from the same reads as what serve runs with, so the two cannot drift apart.
 * Keys are the config file's (kebab-case; the flag's name in messages); the raw record's are cac's camelCase.
 */
export class SettingsReader {
  readonly #raw: Readonly<Record<string, unknown>>;
  readonly #shown: Record<string, unknown> = {};

  constructor(raw: Readonly<Record<string, unknown>>) {
    this.#raw = raw;
  }

  get shown(): ShownSettings {
    return this.#shown;
  }

  /** Records the value under `key`, unless it is undefined (not set, and no default). */
  show<T>(key: string, value: T): T {
    return this.showAs(key, value, value);
  }

  /** Records `shown`, the value's form in the file (a duration with its unit, a password masked). */
  showAs<T>(key: string, value: T, shown: unknown): T {
    if (shown !== undefined) this.#shown[key] = shown;
    return value;
  }

  /** The raw value, not recorded: for settings whose shown form is made from what they become. */
  value(key: string): unknown {
    return this.#raw[rawKey(key)];
  }

  /** One value, not recorded. */
  text(key: string): string | undefined {
    return stringOption(this.value(key), key);
  }

  /** One value, recorded as given. */
  string(key: string): string | undefined {
    return this.show(key, this.text(key));
  }

  /** `mask` gives each value's shown form (a password replaced). */
  list(key: string, mask: (text: string) => string = (text) => text): string[] {
    const values = listOption(this.value(key), key);
    return this.showAs(key, values, values.length > 0 ? values.map(mask) : undefined);
  }

  flag(key: string): boolean {
    return this.show(key, flagOption(this.value(key)));
  }

  /** A setting that a --no-KEY flag (or `KEY: false`) turns off. */
  on(key: string): boolean {
    return this.show(key, this.value(key) !== false);
  }

  integer(key: string, min: number, fallback: number): number {
    return this.show(key, integerOption(this.value(key), key, min) ?? fallback);
  }

  /** Milliseconds; shown with a unit, as the file takes it (a bare number there is in `bare` units). */
  duration(key: string, bare: DurationUnit, fallback: number, range?: Range): number {
    const ms = durationOption(this.value(key), key, bare, range) ?? fallback;
    return this.showAs(key, ms, ms === 0 ? 0 : formatDuration(ms));
  }
}
