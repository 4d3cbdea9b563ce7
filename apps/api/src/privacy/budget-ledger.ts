// The privacy budget ledger (PostgreSQL `dp_budget_ledger`, migration 005): ε and δ spent per release
// period (UTC day) and query family. Amounts are kept exactly: ε and δ in the ledger are `numeric`, and
// the comparison with the budget is done in integer units of 1e-12 (no float drift over many releases).

import type { Database } from '@footfall/db';
import { ApiError } from '../errors.ts';

/** The release period of a bucket: its UTC day, as 'YYYY-MM-DD'. */
export const periodOf = (bucketStartMs: number): string => new Date(bucketStartMs).toISOString().slice(0, 10);

const UNIT = 1e12;
/** A decimal amount as integer units of 1e-12 (exact for the config's values: at most 12 decimals). */
const units = (x: number | string): bigint => BigInt(Math.round(Number(x) * UNIT));

export interface Budget {
  readonly epsilonPerDay: number;
  readonly deltaPerDay: number;
}

export interface Charge {
  readonly period: string;
  readonly releases: number;
  readonly epsilon: number;
  readonly delta: number;
}

/**
 * Inside a release transaction (holding the release lock): refuses with API_PRIVACY_BUDGET_EXHAUSTED if
 * any charge would take its period past the budget, else books every charge under `family`.
 */
export async function chargeBudget(
  tx: Pick<Database, 'query'>,
  family: string,
  charges: readonly Charge[],
  budget: Budget,
): Promise<void> {
  if (charges.length === 0) return;
  const { rows } = await tx.query<{ period: string; eps: string; delta: string }>(
    `SELECT to_char(period_start, 'YYYY-MM-DD') AS period, sum(epsilon_spent)::text AS eps,
            sum(delta_spent)::text AS delta
       FROM dp_budget_ledger WHERE period_start = ANY($1::date[]) GROUP BY period_start`,
    [charges.map((c) => c.period)],
  );
  const spent = new Map(rows.map((r) => [r.period, r]));
  for (const c of charges) {
    const s = spent.get(c.period);
    const eps = units(s?.eps ?? 0) + BigInt(c.releases) * units(c.epsilon);
    const delta = units(s?.delta ?? 0) + BigInt(c.releases) * units(c.delta);
    if (eps > units(budget.epsilonPerDay) || delta > units(budget.deltaPerDay)) {
      throw new ApiError(
        'API_PRIVACY_BUDGET_EXHAUSTED',
        `the privacy budget of ${c.period} (UTC day) cannot cover ${c.releases} more bucket release(s); ` +
          'already released buckets stay answerable (docs/privacy.md)',
      );
    }
  }
  for (const c of charges) {
    await tx.query(
      `INSERT INTO dp_budget_ledger AS l (period_start, family, epsilon_spent, delta_spent, releases)
       VALUES ($1::date, $2, $3::numeric * $5, $4::numeric * $5, $5)
       ON CONFLICT (period_start, family) DO UPDATE SET
         epsilon_spent = l.epsilon_spent + EXCLUDED.epsilon_spent,
         delta_spent = l.delta_spent + EXCLUDED.delta_spent,
         releases = l.releases + EXCLUDED.releases,
         updated_at = now()`,
      [c.period, family, String(c.epsilon), String(c.delta), c.releases],
    );
  }
}

/** What the ledger holds for a period: family → spend (operators; tests). */
export async function ledgerOf(
  db: Pick<Database, 'query'>,
  period: string,
): Promise<Map<string, { epsilon: number; delta: number; releases: number }>> {
  const { rows } = await db.query<{ family: string; eps: string; delta: string; releases: number }>(
    `SELECT family, epsilon_spent::text AS eps, delta_spent::text AS delta, releases
       FROM dp_budget_ledger WHERE period_start = $1::date`,
    [period],
  );
  return new Map(
    rows.map((r) => [r.family, { epsilon: Number(r.eps), delta: Number(r.delta), releases: r.releases }]),
  );
}
