// /proc sampling for the benches: CPU ticks and RSS of a process (Linux).
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const CLK_TCK = 100; // USER_HZ

export interface ProcSample {
  cpuSec: number;
  rssMb: number;
}

export function procSample(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime
    const rssKb = Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
    return { cpuSec: cpuTicks / CLK_TCK, rssMb: rssKb / 1024 };
  } catch {
    return undefined;
  }
}

/** Sum over several processes (e.g. the PostgreSQL backends of one database). */
export function procSampleSum(pids: readonly number[]): ProcSample {
  let cpuSec = 0;
  let rssMb = 0;
  for (const pid of pids) {
    const s = procSample(pid);
    if (s) {
      cpuSec += s.cpuSec;
      rssMb += s.rssMb;
    }
  }
  return { cpuSec, rssMb };
}

export function loadAverage(): number[] {
  return loadavg().map((x) => +x.toFixed(2));
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
