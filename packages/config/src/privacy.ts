import { v } from './env.ts';

/**
 * The privacy mode, shared by the processor (contribution bounding of the counts it emits) and the API
 * (the public-count gate): both must agree, so both read the same variables (docs/privacy.md).
 */
export const privacyModeSpec = {
  privacyMode: v.oneOf(
    'PRIVACY_MODE',
    ['k-anonymity', 'dp'] as const,
    'k-anonymity',
    'public counts: k-anonymity (suppress < K_ANONYMITY) or dp (bounded contributions, discrete Laplace noise, stored releases, budget ledger)',
  ),
  dpMaxCellsPerBucket: v.int(
    'DP_MAX_CELLS_PER_BUCKET',
    1,
    'dp mode: C, the most cells one device counts in per bucket (the noise scale grows with it)',
    1,
    100,
  ),
};
