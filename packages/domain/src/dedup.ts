// Dedup of ping ids per device, bounded by the lateness window: ids leave with their pings on fold.
import type { DeviceState } from './device-state.ts';

/** Ids held by a device above which its dedup lookups use a Set (below, a scan of its id arrays). */
export const DEDUP_SET_MIN = 24;

/** True if the device already holds ping `id` (within lateness). */
export function hasId(dev: DeviceState, id: string): boolean {
  if (dev.dedup !== null) return dev.dedup.has(id);
  const ids = dev.ids;
  for (let i = 0; i < ids.length; i++) if (ids[i] === id) return true;
  const inacc = dev.inaccIds;
  for (let i = 0; i < inacc.length; i++) if (inacc[i] === id) return true;
  return false;
}

/** Records `id` (already appended to `ids` or `inaccIds`) in the dedup index. */
export function rememberId(dev: DeviceState, id: string): void {
  if (dev.dedup !== null) dev.dedup.add(id);
  else if (dev.ids.length + dev.inaccIds.length > DEDUP_SET_MIN) {
    dev.dedup = new Set(dev.ids);
    for (const x of dev.inaccIds) dev.dedup.add(x);
  }
}
