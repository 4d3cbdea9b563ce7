// Channels without a differentially private release (docs/privacy.md, "Channels in dp mode"). Place
// counts (distinct devices over a union of cells, dwell, usual weeks) and crowd alerts (a threshold
// crossing of a raw count is itself a release) were built on k-anonymity; publishing them next to the
// DP releases would undo the DP guarantee. Until they read through the PublicCountGate, dp mode refuses
// them, with one documented error, rather than answering un-noised counts.

import { ApiError } from '../errors.ts';
import type { PublicCountGate } from './gate.ts';

/** The answer of a refused channel (501 API_UNAVAILABLE_IN_DP_MODE). */
export const dpRefusal = (channel: string) =>
  new ApiError(
    'API_UNAVAILABLE_IN_DP_MODE',
    `${channel} are not available with PRIVACY_MODE=dp: they have no differentially private release (docs/privacy.md)`,
  );

/**
 * A hook refusing `channel` when the gate is in dp mode; in k-anonymity mode it does nothing. Install
 * it before the handler reads any count (onRequest / preHandler).
 */
export function refuseInDpMode(gate: Pick<PublicCountGate, 'mode'>, channel: string) {
  return async () => {
    if (gate.mode === 'dp') throw dpRefusal(channel);
  };
}
