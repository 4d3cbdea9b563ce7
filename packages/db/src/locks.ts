/**
 * Advisory lock key shared by the sink and the API's erasure (`pg_advisory_xact_lock`): each sink batch
 * that writes visits holds it shared, an erasure holds it exclusively, so a visit batch that started
 * before an erasure committed cannot re-insert the erased device's visits after it.
 */
export const ERASURE_LOCK_KEY = 0x46_46_45_52; // "FFER"
