/**
 * --allow and --deny in the order they were given: first match wins, and the option parser keeps each
 * option's values apart, so the order is read from argv itself. `--allow-open-proxy` is another option.
 */
export function rulesFromArgv(argv: readonly string[]): string[] {
  const rules: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') break;
    const match = /^--(allow|deny)(?:=(.*))?$/s.exec(arg);
    if (!match) continue;
    const value = match[2] ?? argv[++i];
    if (value !== undefined) rules.push(`${match[1]} ${value}`);
  }
  return rules;
}

/** The rules serve enforces, in order: the command line's first (they override a config file's), then the
 * file's. */
export function effectiveRules(argvRules: readonly string[], fileRules: readonly string[]): string[] {
  return [...argvRules, ...fileRules];
}
