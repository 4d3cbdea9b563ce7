import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { LocalBroker } from '@footfall/kafka';
import { waitFor } from './wait-for.ts';

const execFileAsync = promisify(execFile);

/** Pids of the direct children of `pid` (procps `pgrep -P`). */
export async function childPids(pid: number): Promise<number[]> {
  try {
    const { stdout } = await execFileAsync('pgrep', ['-P', String(pid)]);
    return stdout.split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there is none
  }
}

/**
 * kill -9 of a {@link LocalBroker}'s JVM (no shutdown hook, no final flush: a crash), then waits for
 * its guardian shell to notice and exit. `broker.restart()` then starts it again on the same data
 * directory and ports.
 */
export async function killBroker(broker: LocalBroker): Promise<void> {
  const guardian = broker.pid;
  if (guardian === undefined) throw new Error('broker is not running');
  // The guardian's children are the JVM and, now and then, its own `sleep 0.5` poll, which may exit
  // between the listing and the kill (ESRCH: the fault suite failed on it once). Kill only the JVM.
  const jvms: number[] = [];
  for (const pid of await childPids(guardian)) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'java') jvms.push(pid);
  }
  if (jvms.length === 0) throw new Error(`no JVM under the broker's guardian ${guardian}`);
  for (const pid of jvms) process.kill(pid, 'SIGKILL');
  await waitFor('the broker guardian to exit', () => !broker.running, 30_000, 50);
}
