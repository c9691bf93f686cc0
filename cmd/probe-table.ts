import type { Grid } from '../lib/probe/report.ts';

export interface TableShape {
  /** No wrapping: every column as wide as its longest cell. */
  readonly wide: boolean;
  /** The terminal's width; 80 when stdout is not a terminal. */
  readonly columns: number;
}

/** The shape of stdout: a terminal's width, or 80 columns for a file or a pipe. */
export function stdoutShape(wide: boolean): TableShape {
  return { wide, columns: process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : 80 };
}

/** A grid as a box table that fits `columns`: the first columns as wide as their cells, the last wrapped into
 * what is left; notes follow the table. No colour: this goes to stdout, which may well be a file. */
export async function renderGrid(grid: Grid, shape: TableShape): Promise<string> {
  const { default: Table } = await import('cli-table3');
  const all = [grid.header, ...grid.rows];
  const last = grid.header.length - 1;
  const natural = grid.header.map((_, column) => Math.max(...all.map((row) => row[column]?.length ?? 0)) + 2);
  const fixed = natural.slice(0, last).reduce((sum, width) => sum + width, 0);
  // One border character left of each column and one at the end.
  const room = shape.columns - fixed - (grid.header.length + 1);
  const lastWidth = shape.wide ? natural[last] ?? 0 : Math.max(12, Math.min(natural[last] ?? 0, room));
  const table = new Table({
    head: [...grid.header],
    style: { head: [], border: [], compact: true },
    wordWrap: !shape.wide,
    colWidths: [...natural.slice(0, last), lastWidth],
  });
  table.push(...grid.rows.map((row) => [...row]));
  const notes = grid.notes.map((note, index) => `Note ${index + 1}: ${note}\n`).join('');
  return `${table.toString()}\n${notes}`;
}

/** A line of prose (the verdict) folded at spaces to fit the columns, as the table is; as it is with --wide. */
export function fitLine(text: string, shape: TableShape): string {
  if (shape.wide || text.length <= shape.columns) return text;
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > shape.columns) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join('\n');
}
