// What every bulk statement of the sink shares: bounded chunks of rows per statement, and the exact
// ms → timestamptz conversion.
import type { Database } from '@footfall/db';

/** A transaction (or the pool) as the writers use it. */
export type Tx = Pick<Database, 'query'>;

/** Rows per statement: keeps bind arrays (and the planner's work) bounded for very large batches. */
const CHUNK = 5_000;

/**
 * Runs an `unnest` bulk statement over `rows` in chunks, binding one array per column in `columns`'
 * order (`$1` is the first column); returns the rows the statements affected.
 */
export async function bulk<T>(
  tx: Tx,
  sql: string,
  rows: readonly T[],
  columns: readonly (keyof T)[],
): Promise<number> {
  let n = 0;
  for (let i = 0; i < rows.length; i += CHUNK) {
    const c = rows.slice(i, i + CHUNK);
    const r = await tx.query(
      sql,
      columns.map((k) => c.map((x) => x[k])),
    );
    n += r.rowCount ?? 0;
  }
  return n;
}

// `'epoch' + ms * 1 ms` is exact (no float seconds round trip).
export const TS = (col: string) => `(timestamptz 'epoch' + ${col} * interval '1 millisecond')`;
