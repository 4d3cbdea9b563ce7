// CLI: `node apps/loadgen/src/main.ts` (config from LOADGEN_* variables, docs/loadgen.md). Prints one JSON
// line per second and one per step on stdout ({"type":"second"|"step"|"done", …}); SIGTERM stops early.
import { assertNodeVersion } from '@footfall/config';
import { loadLoadgenConfig } from './config.ts';
import { runLoad } from './run.ts';
import { citySpots } from './spots.ts';

assertNodeVersion();
const config = loadLoadgenConfig();
const controller = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => controller.abort(new Error(`stopped by ${signal}`)));
const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);
try {
  const result = await runLoad({
    target: config.target,
    steps: config.stepList,
    devices: config.devices,
    workers: config.workers,
    batchPings: config.batchPings,
    sessionsPerWorker: config.sessionsPerWorker,
    timeoutMs: config.timeoutMs,
    lookaheadMs: config.lookaheadMs,
    spots: citySpots(config.seed),
    seed: config.seed,
    signal: controller.signal,
    onSecond: (s) => print({ type: 'second', ...s }),
    onStep: (s) => print({ type: 'step', ...s }),
  });
  print({ type: 'done', devices: result.devices, enrollSeconds: result.enrollSeconds });
} catch (error) {
  if (!controller.signal.aborted) throw error;
  print({ type: 'done', aborted: true });
}
