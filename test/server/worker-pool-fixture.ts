/** A primary and its workers in one script, for worker-pool.test.ts: `node worker-pool-fixture.ts MODE`
 * runs a WorkerPool of 2 whose workers (this script again, with SOCX_WORKER set) behave as MODE says:
 * - fail: report a start-up failure and exit 1;
 * - crash: listen, then exit 3 a moment later, every time;
 * - serve: listen and answer status and reload (worker 2's reload fails), then drain.
 * The primary prints what it saw as one JSON line on stdout. */
import { SocxError } from '../../lib/errors.ts';
import type { ServerStatus } from '../../lib/server/server.ts';
import { receiveStart, reportFailure, reportListening, serveAsWorker, workerNumber } from '../../lib/server/worker-child.ts';
import { WorkerPool } from '../../lib/server/workers.ts';

type Mode = 'fail' | 'crash' | 'serve';

const worker = workerNumber();
if (worker !== undefined) {
  const start = await receiveStart<{ mode: Mode }>(worker);
  if (start.settings.mode === 'fail') {
    reportFailure(new SocxError('network', `worker ${worker}: cannot listen on 192.0.2.1:1: test`));
    process.exitCode = 1;
    process.disconnect();
  } else {
    reportListening(start.listen.map((address) => ({ ...address, port: 4000 + worker })));
    if (start.settings.mode === 'crash') setTimeout(() => process.exit(3), 20);
    else {
      const status: ServerStatus = { startedAt: 0, connections: { handshake: 0, relaying: worker, total: worker }, topClients: [], bytesUp: worker, bytesDown: 0 };
      await serveAsWorker({ reload: () => (worker === 2 ? 'bad file' : undefined), status: () => status, metrics: () => undefined, drain: async () => {}, graceMs: () => 0, settings: () => {}, loginFailed: () => {} });
    }
  }
} else {
  const mode = process.argv[2] as Mode;
  const lines: string[] = [];
  let logged!: () => void;
  const fourLines = new Promise<void>((resolve) => { logged = resolve; });
  const pool = new WorkerPool({ count: 2, settings: { mode }, listen: [{ host: '127.0.0.1', port: 0 }], log: (line) => { lines.push(line); if (lines.length === 4) logged(); } });
  const result: Record<string, unknown> = { mode };
  try {
    result.bound = await pool.start();
    result.pids = pool.pids;
    if (mode === 'crash') await fourLines;
    if (mode === 'serve') {
      result.status = await pool.ask('status');
      result.reload = await pool.ask('reload');
    }
    await pool.drain(0);
  } catch (error) {
    result.error = error instanceof SocxError ? { code: error.code, message: error.message } : String(error);
  }
  result.lines = lines;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
