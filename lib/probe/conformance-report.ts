import type { ConformanceReport } from './conformance.ts';
import type { Grid } from './report.ts';

/** The table `socx probe --conformance` prints: a check a row, the section and the evidence behind it. */
export function conformanceGrid(report: ConformanceReport): Grid {
  const rows = report.checks.map((check) => [check.id, check.result, `${check.rfc}: ${check.evidence}`]);
  return { header: ['Check', 'Result', 'Section: evidence'], rows, notes: [] };
}

/** One line under the table. */
export function conformanceSummary(report: ConformanceReport): string {
  if (!report.reachable) return `unreachable: ${report.reason ?? 'no connection'}`;
  const { summary } = report;
  return `${summary.pass} pass, ${summary.fail} fail, ${summary['n/a']} n/a`;
}

/** The README's "How servers do": a check a row, a server a column, each cell its result. */
export function conformanceMarkdown(columns: ReadonlyArray<{ readonly label: string; readonly report: ConformanceReport }>): string {
  const first = columns[0]?.report.checks ?? [];
  // Our own words (ids, titles, sections), so only the table's own syntax needs escaping.
  const cell = (text: string): string => text.replace(/\|/g, '\\|');
  const lines = [
    `| Check | Section | ${columns.map((column) => cell(column.label)).join(' | ')} |`,
    `|---|---|${columns.map(() => '---').join('|')}|`,
    ...first.map((check) => {
      const results = columns.map((column) => column.report.checks.find((other) => other.id === check.id)?.result ?? '-');
      return `| \`${check.id}\` — ${cell(check.title)} | ${cell(check.rfc)} | ${results.join(' | ')} |`;
    }),
    `| **pass / fail / n/a** | | ${columns.map(({ report }) => `${report.summary.pass} / ${report.summary.fail} / ${report.summary['n/a']}`).join(' | ')} |`,
  ];
  return `${lines.join('\n')}\n`;
}
