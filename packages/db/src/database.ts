import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import Postgrator from 'postgrator';
import { isDatabaseUnavailable, toDatabaseError, unavailableReason } from './errors.ts';

const MIGRATIONS = resolve(dirname(fileURLToPath(import.meta.url)), '../migrations');

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/**
 * The slice of a SQL client the services use. Both the real server (`pg.Pool`) and the embedded
 * PGlite implement it, so every query and migration runs unchanged on either.
 */
export interface QueryOptions {
  /**
   * Run as a named prepared statement: the server parses and plans it once per connection, then reuses
   * the plan. For sub-millisecond index lookups parse + plan cost more than execution. One name per SQL
   * text. Ignored by PGlite.
   */
  name?: string;
}

export interface Database {
  readonly kind: 'postgres' | 'pglite';
  query<R = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>>;
  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(fn: (tx: Pick<Database, 'query'>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** `postgres://…`; when absent an embedded PGlite database is used (dev only). */
  url?: string | undefined;
  /** Where PGlite keeps its files. Default `<repo>/.cache/pglite`. Use `memory://` for in-memory. */
  pgliteDir?: string;
  /** Max pool connections for the real server. Default 10. */
  poolSize?: number;
  /** Applied to every connection; e.g. 'footfall-api'. */
  applicationName?: string;
  /** Skip migrations (read-only replicas, or when another process owns the schema). */
  skipMigrations?: boolean;
}

class PgDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.pool = pool;
  }
  async query<R>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>> {
    try {
      const result = options?.name
        ? await this.pool.query({ name: options.name, text: sql, values: params as unknown[] })
        : await this.pool.query(sql, params as unknown[]);
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    } catch (error) {
      throw toDatabaseError(error);
    }
  }
  async transaction<T>(fn: (tx: Pick<Database, 'query'>) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw toDatabaseError(error);
    }
    // The pool listens for errors of IDLE clients only. A checked-out client whose backend is
    // terminated (pg_terminate_backend, server restart) or whose socket resets emits 'error' with
    // nobody listening, which Node turns into an uncaught exception that kills the process. Listen for
    // the whole time the client is out; the failure reaches the caller through the pending query.
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost ??= error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const tx = {
        query: async <R>(sql: string, params?: readonly unknown[]) => {
          const r = await client.query(sql, params as unknown[]);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        },
      };
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      let failure = toDatabaseError(error);
      // A statement that failed because the connection died under it is a connection failure.
      if (!isDatabaseUnavailable(failure) && lost !== undefined && unavailableReason(lost)) {
        failure = toDatabaseError(lost);
      }
      if (isDatabaseUnavailable(failure)) lost ??= failure;
      else if (lost === undefined) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          lost = rollbackError;
        });
      }
      throw failure;
    } finally {
      // A broken connection is destroyed, not returned to the pool for the next caller to trip on.
      // Our listener stays on a destroyed client: closing a dead socket may still emit 'error'.
      client.release(lost ?? false);
      if (!lost) client.off('error', onError);
    }
  }
  async close(): Promise<void> {
    await this.pool.end();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

type PGliteLike = {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  exec(sql: string): Promise<unknown>;
  transaction<T>(fn: (tx: { query: PGliteLike['query'] }) => Promise<T>): Promise<T>;
  close(): Promise<void>;
};

class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly #db: PGliteLike;
  constructor(db: PGliteLike) {
    this.#db = db;
  }
  async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    const r = await this.#db.query<R>(sql, params as unknown[]);
    return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
  }
  async exec(sql: string): Promise<void> {
    await this.#db.exec(sql);
  }
  transaction<T>(fn: (tx: Pick<Database, 'query'>) => Promise<T>): Promise<T> {
    return this.#db.transaction((tx) =>
      fn({
        query: async <R>(sql: string, params?: readonly unknown[]) => {
          const r = await tx.query<R>(sql, params as unknown[]);
          return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
        },
      }),
    );
  }
  async close(): Promise<void> {
    await this.#db.close();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

// int8/numeric come back as strings from pg by default; our counts and epoch-ms fit in doubles. Set on
// our own pools only (pg's `types` option), never on pg's global parsers, so importing this package
// changes nothing for other pg users in the process.
const NUMERIC_AS_NUMBER = new Set<number>([pg.types.builtins.INT8, pg.types.builtins.NUMERIC]);
const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    NUMERIC_AS_NUMBER.has(oid) && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** Opens the database named by `url` (or embedded PGlite) and applies pending migrations. */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  let db: Database;
  if (options.url) {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? 'footfall',
      types: pgTypes,
      // TCP keepalives notice a server that vanished without closing the socket (fail-over, network).
      keepAlive: true,
    });
    // An idle client erroring (server restart) must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    db = new PgDatabase(pool);
  } else {
    const { PGlite } = await import('@electric-sql/pglite');
    const dir = options.pgliteDir ?? resolve(MIGRATIONS, '../../../.cache/pglite');
    if (!dir.startsWith('memory://')) await mkdir(dir, { recursive: true });
    db = new PgliteDatabase((await PGlite.create(dir)) as unknown as PGliteLike);
  }
  try {
    if (!options.skipMigrations) await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

/** Applies the versioned SQL migrations in `packages/db/migrations` (postgrator, `NNN.do.name.sql`). */
export async function migrate(db: Database): Promise<string[]> {
  const postgrator = new Postgrator({
    migrationPattern: `${MIGRATIONS}/*`,
    driver: 'pg',
    schemaTable: 'schema_migrations',
    execQuery: (sql: string) => db.query(sql),
    ...(db instanceof PgliteDatabase ? { execSqlScript: (sql: string) => db.exec(sql) } : {}),
  });
  const applied = await postgrator.migrate();
  return applied.map((m) => m.filename);
}
