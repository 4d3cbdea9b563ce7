// SQL fragments converting between the API's times (ms since the epoch, as bigint parameters) and
// PostgreSQL timestamptz columns; one home, so every query converts the same way.

/** `timestamptz` from the bigint parameter `p` (e.g. `$2`) in ms since the epoch. */
export const TS = (p: string) => `(timestamptz 'epoch' + ${p}::bigint * interval '1 millisecond')`;

/** The timestamptz column `col` as ms since the epoch (bigint: arrives as a string, see `Number()`). */
export const MS = (col: string) => `(extract(epoch FROM ${col}) * 1000)::bigint`;
