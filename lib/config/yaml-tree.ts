import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

/** A YAML value with the line it starts on, so that every complaint about a config file can name its line. */
export type YamlValue =
  | { readonly kind: 'scalar'; readonly line: number; readonly value: string | number | boolean | null }
  | { readonly kind: 'list'; readonly line: number; readonly items: readonly YamlValue[] }
  | { readonly kind: 'map'; readonly line: number; readonly entries: readonly YamlEntry[] };

export interface YamlEntry { readonly key: string; readonly line: number; readonly value: YamlValue }

export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
  readonly line: number;
  constructor(line: number, message: string) {
    super(message);
    this.line = line;
  }
}

/** Parses YAML 1.2 (the `yaml` package: maintained, strict, positions for every node) into a YamlValue tree.
 * Duplicate keys, anchors/aliases and tags beyond the core schema are errors: a config is data, not a program. */
export function parseYamlTree(text: string): YamlValue {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, schema: 'core', merge: false });
  const first = doc.errors[0];
  if (first) throw new ConfigFileError(lines.linePos(first.pos[0]).line, first.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'bad YAML');
  const lineOf = (node: Node | null): number => lines.linePos(node?.range?.[0] ?? 0).line;
  const convert = (node: unknown): YamlValue => {
    const line = lineOf(node as Node | null);
    if (node === null || node === undefined) return { kind: 'scalar', line, value: null };
    if (isScalar(node)) {
      const value = node.value;
      if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return { kind: 'scalar', line, value };
      throw new ConfigFileError(line, `unsupported value ${JSON.stringify(String(value))}`);
    }
    if (isSeq(node)) return { kind: 'list', line, items: node.items.map(convert) };
    if (isMap(node)) {
      return {
        kind: 'map', line, entries: node.items.map((pair) => {
          const key = pair.key;
          if (!isScalar(key) || typeof key.value !== 'string') throw new ConfigFileError(lineOf(key as Node | null), 'keys must be plain names');
          return { key: key.value, line: lineOf(key), value: convert(pair.value) };
        }),
      };
    }
    throw new ConfigFileError(line, 'aliases and other YAML features are not supported in a config file');
  };
  return convert(doc.contents);
}

/** The plain JavaScript form of a scalar or a list of scalars. */
export function scalarOrList(value: YamlValue): string | number | boolean | null | Array<string | number | boolean | null> | undefined {
  if (value.kind === 'scalar') return value.value;
  if (value.kind === 'list' && value.items.every((item) => item.kind === 'scalar')) return value.items.map((item) => (item.kind === 'scalar' ? item.value : null));
  return undefined;
}
