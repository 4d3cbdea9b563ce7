import type { Database } from '@footfall/db';

const DAY_MS = 86_400_000;

/** The time-partitioned tables and their partition key column. */
export const PARTITIONED_TABLES = ['occupancy', 'visits'] as const;
export type PartitionedTable = (typeof PARTITIONED_TABLES)[number];

/** UTC day number (days since the epoch) of `ms`. */
export const dayOf = (ms: number): number => Math.floor(ms / DAY_MS);

/** `YYYYMMDD` of a UTC day number. */
export function daySuffix(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll('-', '');
}

const PARTITION_NAME = /^(occupancy|visits)_p(\d{4})(\d{2})(\d{2})$/;

/**
 * Keeps one partition per UTC day per table. Creation is idempotent and safe against another sink
 * instance creating the same day concurrently; known days are cached so the hot path costs nothing.
 */
export class PartitionManager {
  readonly #db: Database;
  readonly #known = new Map<PartitionedTable, Set<number>>(PARTITIONED_TABLES.map((t) => [t, new Set()]));
  #loaded = false;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Existing daily partitions, read from the catalog. */
  async list(): Promise<{ table: PartitionedTable; name: string; day: number }[]> {
    const { rows } = await this.#db.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = ANY($1::text[])`,
      [PARTITIONED_TABLES],
    );
    const out: { table: PartitionedTable; name: string; day: number }[] = [];
    for (const { name } of rows) {
      const m = PARTITION_NAME.exec(name);
      if (!m) continue;
      out.push({
        table: m[1] as PartitionedTable,
        name,
        day: dayOf(Date.UTC(Number(m[2]), Number(m[3]) - 1, Number(m[4]))),
      });
    }
    return out;
  }

  async #load(): Promise<void> {
    for (const set of this.#known.values()) set.clear();
    for (const p of await this.list()) this.#known.get(p.table)?.add(p.day);
    this.#loaded = true;
  }

  /** Ensures a partition of `table` exists for every day in `days`. */
  async ensure(table: PartitionedTable, days: Iterable<number>): Promise<number> {
    if (!this.#loaded) await this.#load();
    const known = this.#known.get(table) ?? new Set<number>();
    this.#known.set(table, known);
    let created = 0;
    for (const day of days) {
      if (known.has(day)) continue;
      const from = new Date(day * DAY_MS).toISOString();
      const to = new Date((day + 1) * DAY_MS).toISOString();
      // Names and bounds are derived from an integer day, never from input text.
      const sql = `CREATE TABLE IF NOT EXISTS ${table}_p${daySuffix(day)} PARTITION OF ${table} FOR VALUES FROM ('${from}') TO ('${to}')`;
      try {
        await this.#db.query(sql);
        created++;
      } catch (error) {
        // Another instance may have created it between our check and CREATE (catalog unique
        // violation or "already exists"): re-read the catalog and accept it if it is there now.
        await this.#load();
        if (!known.has(day)) throw error;
      }
      known.add(day);
    }
    return created;
  }

  /** Drops every daily partition of a day before `firstKeptDay`. Returns the dropped names. */
  async dropBefore(firstKeptDay: number): Promise<string[]> {
    const dropped: string[] = [];
    for (const p of await this.list()) {
      if (p.day >= firstKeptDay) continue;
      await this.#db.query(`DROP TABLE IF EXISTS ${p.name}`);
      this.#known.get(p.table)?.delete(p.day);
      dropped.push(p.name);
    }
    return dropped;
  }
}
