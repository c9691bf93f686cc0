// `socx probe --json` as users run it (the built dist/socx), for the CLI suites: the exit code checked, stderr
// empty, the JSON parsed as the report type it is.
import assert from 'node:assert/strict';
import type { ProbeReport } from '../../lib/probe/report.ts';
import { describeRun, NO_PROXY_ENV, runSocx } from '../interop/socx.ts';

export const PROBE_ENV = { ...NO_PROXY_ENV, NO_COLOR: '1' };

export async function probeJson(args: string[], expectedExit = 0): Promise<{ json: ProbeReport; ms: number }> {
  const started = Date.now();
  const r = await runSocx(['probe', '--json', '--timeout', '1500', ...args], { env: PROBE_ENV, timeoutMs: 30_000 });
  const ms = Date.now() - started;
  assert.equal(r.code, expectedExit, describeRun(r));
  assert.equal(r.stderr.toString(), '', describeRun(r));
  return { json: JSON.parse(r.stdout.toString()) as ProbeReport, ms };
}
