import './no-inspector.ts';
import { cac, type CAC } from 'cac';
import { describeError, exitCodeFor, usageError } from '../lib/errors.ts';
import { VERSION } from '../lib/version.ts';
import { registerBench } from './bench.ts';
import { registerBind } from './bind.ts';
import { registerConnect } from './connect.ts';
import { registerHashPassword } from './hash-password.ts';
import { registerProbe } from './probe.ts';
import { flushStdout, printError, watchStdout } from './output.ts';
import { registerServe } from './serve.ts';
import { registerUdpSend } from './udp-send.ts';

export type CommandResult = Promise<number>;

function buildCli(): CAC {
  const cli = cac('socx');
  registerServe(cli);
  registerConnect(cli);
  registerUdpSend(cli);
  registerBind(cli);
  registerBench(cli);
  registerProbe(cli);
  registerHashPassword(cli);
  // cac shows a negated flag's implicit default (--no-socks4 "default: true"), which reads as the opposite.
  cli.help((sections) => {
    const commandHelp = !sections.some((section) => section.title === 'Commands');
    return sections.map((section) => {
      const body = section.body.replace(/^(\s+--no-.*?) \(default: true\)$/gm, '$1');
      return { ...section, body: commandHelp && section.title === 'Options' ? withVersion(body) : body };
    });
  });
  // -v is --verbose in the commands, so --version has no short form.
  cli.option('--version', VERSION_HELP);
  return cli;
}

const VERSION_HELP = 'Print the version';

/** cac leaves the global --version out of a command's help, though `socx <command> --version` works too: it
 * goes under -h, in the same columns. */
function withVersion(options: string): string {
  return options.replace(/^( +-h, --help +)\S.*$/m, (line, columns: string) => `${line}\n${'  --version'.padEnd(columns.length)}${VERSION_HELP} `);
}

/** Parses argv (without the node and script elements) and runs the command; resolves with the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  watchStdout();
  const cli = buildCli();
  try {
    const code = await runCommand(cli, argv);
    // Output that did not reach stdout is lost data, whatever the command made of it.
    await flushStdout();
    return code;
  } catch (error) {
    const isCacError = error instanceof Error && error.name === 'CACError';
    printError(isCacError ? `${lowerFirst(error.message)} (see socx ${cli.matchedCommandName ?? ''} --help)`.replace('  ', ' ') : describeError(error));
    return isCacError ? 2 : exitCodeFor(error);
  }
}

async function runCommand(cli: CAC, argv: readonly string[]): Promise<number> {
  const parsed = cli.parse(['socx', 'socx', ...argv], { run: false });
  if (parsed.options.help) return 0;
  // Before a command's own checks: `socx serve --version` prints the version, as `socx --version` does.
  if (parsed.options.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (!cli.matchedCommand) {
    // As a command does with its own options: one line, not the help.
    cli.globalCommand.checkUnknownOptions();
    if (parsed.args.length > 0) throw usageError(`unknown command "${parsed.args[0]}" (see socx --help)`);
    cli.outputHelp();
    return 2;
  }
  const takesValue = valueTakers([...cli.globalCommand.options, ...cli.matchedCommand.options]);
  rejectEmptyValues(argv, takesValue);
  const joined = joinDashValues(argv, takesValue);
  if (joined !== argv) cli.parse(['socx', 'socx', ...joined], { run: false });
  const result: unknown = await cli.runMatchedCommand();
  return typeof result === 'number' ? result : 0;
}

/** mri reads an empty value as the number 0 (`-l ''` would listen on port 0): refuse it while the argv still
 * shows what was typed. */
type Option = CAC['globalCommand']['options'][number];

/** Each spelling of the options that take a value, to its long one. */
function valueTakers(options: readonly Option[]): Map<string, string> {
  return new Map(options.filter((option) => option.required !== undefined).flatMap((option) => {
    const names = option.rawName.split(/[ ,]+/).filter((word) => word.startsWith('-'));
    const long = names.find((name) => name.startsWith('--')) ?? names[0]!;
    return names.map((name) => [name, long] as const);
  }));
}

function rejectEmptyValues(argv: readonly string[], takesValue: ReadonlyMap<string, string>): void {
  argv.forEach((arg, index) => {
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, argv[index + 1]];
    if (takesValue.has(flag) && inline === '') throw usageError(`${flag} needs a value, not an empty string`);
  });
}

/** mri reads a value that begins with "-" and a digit as an option of its own: `--max-connections -1` would be
 * "unknown option `-1`" instead of the option's own error, and `--label -2` would not work at all. After an
 * option that must have a value, such a word is that value: `--max-connections=-1`. The same argv when there is
 * none. */
function joinDashValues(argv: readonly string[], takesValue: ReadonlyMap<string, string>): readonly string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const long = takesValue.get(arg);
    const next = argv[i + 1];
    if (arg === '--') return [...joined, ...argv.slice(i)];
    if (long === undefined || next === undefined || !/^-\d/.test(next)) {
      joined.push(arg);
      continue;
    }
    joined.push(`${long}=${next}`);
    i++;
  }
  return joined.length === argv.length ? argv : joined;
}

const lowerFirst = (text: string): string => text.charAt(0).toLowerCase() + text.slice(1);

if (import.meta.main) {
  void run(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
