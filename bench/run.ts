// `npm run bench`: runs every benchmark as its own process (each brings up its own broker and
// services, so one cannot warm or starve the next), then prints one summary.
// BENCH_ONLY=ingest,api runs a subset; BENCH_SECONDS scales the measured phases.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNodeVersion } from '@footfall/config';

assertNodeVersion();
const here = import.meta.dirname;
const all = ['ingest', 'ingest-loadgen', 'processor', 'api', 'pipeline', 'alerts', 'nowcast', 'places', 'dp'];
// Long or destructive sections run only when named in BENCH_ONLY.
const optional = ['overload'];
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const selected = [...all, ...optional].filter((name) => (only ? only.includes(name) : all.includes(name)));

const summary: Record<string, unknown> = { startedAt: new Date().toISOString(), machine: machineInfo() };
let failed = 0;
for (const name of selected) {
  const script = join(here, `${name}.ts`);
  if (!existsSync(script)) {
    console.error(`\n=== ${name}: ${script} missing, skipped`);
    continue;
  }
  console.error(`\n=== bench ${name} ===`);
  const started = Date.now();
  const result = spawnSync(process.execPath, [script], { stdio: 'inherit', env: process.env });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  if (result.status !== 0) {
    failed++;
    console.error(`=== ${name} FAILED (exit ${result.status}) after ${seconds} s`);
    continue;
  }
  console.error(`=== ${name} done in ${seconds} s → bench/results/${name}.json`);
}
// The summary holds every section's latest result (each carries its own date), not only the sections
// run now: a BENCH_ONLY run must not erase the others from it.
summary.ranNow = selected;
for (const name of [...all, ...optional]) {
  const file = join(here, 'results', `${name}.json`);
  if (existsSync(file)) summary[name] = JSON.parse(readFileSync(file, 'utf8'));
}
writeFileSync(join(here, 'results', 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.error(`\nsummary → bench/results/summary.json`);
process.exit(failed ? 1 : 0);

function machineInfo() {
  const cpus = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1];
  return { node: process.version, cpus: globalThis.navigator?.hardwareConcurrency ?? 0, cpuModel: cpus };
}
