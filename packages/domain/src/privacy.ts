/** Default k-anonymity threshold: public counts below it are suppressed. */
export const DEFAULT_K_ANONYMITY = 5;

/** `count` if `count >= k`, else `null` (suppressed). Applied by the API to public answers only. */
export function kAnonymize(count: number, k: number = DEFAULT_K_ANONYMITY): number | null {
  return count >= k ? count : null;
}
