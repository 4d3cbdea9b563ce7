import type { TestContext } from 'node:test';
import { mulberry32 } from './random.ts';

/**
 * The seed of a randomised test: `TEST_SEED` when set (to replay a failure), else a fresh one. The seed is
 * printed as a test diagnostic and, when the test fails, in the failure itself, so any failing run can be
 * reproduced with `TEST_SEED=<seed>`.
 */
export function testSeed(): number {
  const fromEnv = process.env.TEST_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isSafeInteger(seed)) throw new Error(`TEST_SEED must be an integer, got ${fromEnv}`);
    return seed;
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

/**
 * Runs `body` with a PRNG seeded by {@link testSeed}; a failure is rethrown with the seed in its message.
 * `t` gets the seed as a diagnostic either way.
 */
export async function withSeed<T>(
  t: Pick<TestContext, 'diagnostic'>,
  body: (random: () => number, seed: number) => T | Promise<T>,
): Promise<T> {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (replay with TEST_SEED=${seed})`);
  try {
    return await body(mulberry32(seed), seed);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`[TEST_SEED=${seed}] ${message}`, { cause: error });
  }
}
