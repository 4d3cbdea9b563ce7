import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@footfall/kafka';

const execFileAsync = promisify(execFile);

/** Where Debian/Ubuntu install the server binaries (`postgresql-15` and later). */
export function findPostgresBin(): string | undefined {
  if (process.env.PG_BIN && existsSync(join(process.env.PG_BIN, 'pg_ctl'))) return process.env.PG_BIN;
  for (const version of [17, 16, 15, 14]) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

/**
 * A throwaway PostgreSQL cluster of its own (initdb + pg_ctl on a temp dir and a free port), for tests
 * that stop, crash or restart the server: the machine's server is never touched. The server refuses
 * to run as root, so as root the cluster belongs to the `postgres` user and commands run via runuser.
 */
export class PrivatePostgres {
  readonly port: number;
  readonly dataDir: string;
  readonly #bin: string;
  readonly #root: string;

  private constructor(bin: string, root: string, port: number) {
    this.#bin = bin;
    this.#root = root;
    this.dataDir = join(root, 'data');
    this.port = port;
  }

  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust authentication). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  static async start(): Promise<PrivatePostgres> {
    const bin = findPostgresBin();
    if (!bin)
      throw new Error('PostgreSQL server binaries not found (apt-get install postgresql-15, or set PG_BIN)');
    const root = await mkdtemp(join(tmpdir(), 'footfall-pg-'));
    const pg = new PrivatePostgres(bin, root, await freePort());
    try {
      if (process.getuid?.() === 0) {
        const { stdout } = await execFileAsync('id', ['-u', 'postgres']);
        const { stdout: gid } = await execFileAsync('id', ['-g', 'postgres']);
        await chown(root, Number(stdout.trim()), Number(gid.trim()));
      }
      await pg.#run('initdb', [
        '-D',
        pg.dataDir,
        '-U',
        'postgres',
        '--auth=trust',
        '-E',
        'UTF8',
        '--no-sync',
      ]);
      await pg.#ctl(['start']);
    } catch (error) {
      await rm(root, { recursive: true, force: true });
      throw error;
    }
    return pg;
  }

  async #run(tool: string, args: string[]): Promise<string> {
    const path = join(this.#bin, tool);
    const [cmd, argv] =
      process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
    const { stdout } = await execFileAsync(cmd, argv, { cwd: this.#root });
    return stdout;
  }

  async #ctl(args: string[]): Promise<void> {
    const options = `-p ${this.port} -k ${this.#root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
    await this.#run('pg_ctl', [
      ...args,
      '-D',
      this.dataDir,
      '-w',
      '-t',
      '60',
      '-l',
      join(this.#root, 'log'),
      '-o',
      options,
    ]);
  }

  /** Stops the server: `fast` (sessions terminated, clean) or `immediate` (like a crash: recovery on start). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.#run('pg_ctl', ['stop', '-D', this.dataDir, '-w', '-m', mode]);
  }

  async startAgain(): Promise<void> {
    await this.#ctl(['start']);
  }

  /** Restarts the server on the same data and port. */
  async restart(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.stop(mode);
    await this.startAgain();
  }

  async close(): Promise<void> {
    await this.stop('immediate').catch(() => {});
    await rm(this.#root, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
