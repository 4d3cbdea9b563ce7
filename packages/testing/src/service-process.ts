// A service as its own OS process started from its main.ts (as in production), with fixed ports so a
// killed or restarted one comes back at the same address. Used by test/faults and test/multi.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export type ServiceName = 'ingest' | 'processor' | 'sink' | 'api';

/** A service process (`apps/<name>/src/main.ts`); an exit the test did not ask for is recorded as a death. */
export class ServiceProcess {
  readonly name: ServiceName;
  readonly readyUrl: string;
  /** Environment of the next start (tests change it between restarts, e.g. for a cut-over). */
  readonly env: Record<string, string>;
  #child: ChildProcess | undefined;
  #expectExit = false;
  readonly deaths: { code: number | null; signal: string | null; stderr: string }[] = [];
  #stderr = '';

  constructor(name: ServiceName, env: Record<string, string>, readyUrl: string) {
    this.name = name;
    this.env = env;
    this.readyUrl = readyUrl;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  start(): void {
    this.#expectExit = false;
    this.#stderr = '';
    const child = spawn(process.execPath, [resolve(ROOT, `apps/${this.name}/src/main.ts`)], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...this.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    child.once('exit', (code, signal) => {
      if (!this.#expectExit) this.deaths.push({ code, signal, stderr: this.#stderr });
    });
    this.#child = child;
  }

  async ready(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const child = this.#child;
      if (child && (child.exitCode !== null || child.signalCode !== null)) {
        throw new Error(`${this.name} exited (${child.exitCode ?? child.signalCode}):\n${this.#stderr}`);
      }
      if (
        await fetch(this.readyUrl).then(
          (r) => r.ok,
          () => false,
        )
      )
        return;
      if (Date.now() > deadline) {
        throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.#stderr.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** kill -9, waits for the exit (not counted as a death). */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.#expectExit = true;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** Graceful restart: SIGTERM (drain), start again, wait until ready. */
  async restart(graceMs = 20_000): Promise<void> {
    await this.stopGracefully(graceMs);
    this.start();
    await this.ready();
  }

  /** SIGTERM (drain); throws unless the process then exits with code 0 within `graceMs`. */
  async stopGracefully(graceMs = 20_000): Promise<void> {
    const exit = await this.stop(graceMs);
    if (exit.code !== 0) {
      throw new Error(
        `${this.name} did not stop gracefully on SIGTERM: ${JSON.stringify(exit)}\n${this.#stderr}`,
      );
    }
  }

  /**
   * SIGTERM (drain), then SIGKILL after `graceMs`. Resolves with how it exited: a graceful stop is
   * `{ code: 0, signal: null }` (a SIGKILL after the grace period shows as `signal: 'SIGKILL'`).
   */
  async stop(graceMs = 20_000): Promise<{ code: number | null; signal: string | null }> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      return { code: child?.exitCode ?? null, signal: child?.signalCode ?? null };
    }
    this.#expectExit = true;
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const [code, signal] = await exited;
    clearTimeout(timer);
    return { code, signal };
  }
}
