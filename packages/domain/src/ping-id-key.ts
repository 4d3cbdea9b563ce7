// Ping ids as numbers: dedup and the order of a device's pings with equal event times (by id, string
// order) without holding an id string per ping. An id of at most 24 characters from the base64url /
// base36 alphabet (every id the SDK, the simulator and the tests produce) is packed into three doubles,
// eight characters each in radix 65 (0 = past the end), so that comparing the keys field by field is
// exactly comparing the strings. Other ids keep their string in the device's `longIds`, keyed by a
// 53-bit hash (key = [-1, hash, 0]); two distinct such ids of one device with the same hash (probability
// ~n²/2⁵⁴ for n ids in the window) would count as duplicates.

import { type DeviceState, F_ID, INACC_STRIDE, WINDOW_STRIDE } from './device-state.ts';

/** Fields of an id key. */
export const ID_KEY_FIELDS = 3;
const CHARS = 8;
const RADIX = 65;
/** Ascending code-unit order, so that digit order is string order. */
const ALPHABET = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i + 1;

/** An id key (ID_KEY_FIELDS numbers); `long` is the id string when it has no compact form. */
export class IdKey {
  readonly k = new Float64Array(ID_KEY_FIELDS);
  long: string | null = null;

  /** Sets this key to the key of `id`. */
  set(id: string): this {
    const k = this.k;
    if (id.length <= CHARS * ID_KEY_FIELDS) {
      let ok = true;
      for (let f = 0; f < ID_KEY_FIELDS && ok; f++) {
        let v = 0;
        for (let i = f * CHARS; i < (f + 1) * CHARS; i++) {
          let d = 0;
          if (i < id.length) {
            const c = id.charCodeAt(i);
            d = c < 128 ? (DIGIT[c] as number) : -1;
            if (d < 0) {
              ok = false;
              break;
            }
          }
          v = v * RADIX + d;
        }
        k[f] = v;
      }
      if (ok) {
        this.long = null;
        return this;
      }
    }
    k[0] = -1;
    k[1] = hash53(id);
    k[2] = 0;
    this.long = id;
    return this;
  }
}

/** True if the device already holds a ping (accurate or not) with this id key (within lateness). */
export function hasPing(dev: DeviceState, key: IdKey): boolean {
  const k0 = key.k[0] as number;
  const k1 = key.k[1] as number;
  const k2 = key.k[2] as number;
  const w = dev.w;
  for (let o = F_ID; o < w.length; o += WINDOW_STRIDE) {
    if (w[o] === k0 && w[o + 1] === k1 && w[o + 2] === k2) return true;
  }
  const a = dev.inacc;
  for (let o = 1; o < a.length; o += INACC_STRIDE) {
    if (a[o] === k0 && a[o + 1] === k1 && a[o + 2] === k2) return true;
  }
  return false;
}

/** Writes the key into `arr` at `o` and registers a long id with the device. */
export function storeKey(dev: DeviceState, key: IdKey, arr: number[], o: number): void {
  arr[o] = key.k[0] as number;
  arr[o + 1] = key.k[1] as number;
  arr[o + 2] = key.k[2] as number;
  if (key.long !== null) {
    dev.longIds ??= new Map();
    dev.longIds.set(key.k[1] as number, key.long);
  }
}

/** Forgets the long id of the key stored in `arr` at `o`, if it is one (the ping left the window). */
export function releaseKey(dev: DeviceState, arr: readonly number[], o: number): void {
  if ((arr[o] as number) >= 0 || dev.longIds === null) return;
  dev.longIds.delete(arr[o + 1] as number);
  if (dev.longIds.size === 0) dev.longIds = null;
}

/** True if `key` orders after the key stored in `arr` at `o` (string order of the ids). */
export function keyAfter(dev: DeviceState, key: IdKey, arr: readonly number[], o: number): boolean {
  const k = key.k;
  const b0 = arr[o] as number;
  if ((k[0] as number) >= 0 && b0 >= 0) {
    if (k[0] !== b0) return (k[0] as number) > b0;
    if (k[1] !== arr[o + 1]) return (k[1] as number) > (arr[o + 1] as number);
    return (k[2] as number) > (arr[o + 2] as number);
  }
  const a = key.long ?? unpack(k[0] as number, k[1] as number, k[2] as number);
  const b =
    b0 < 0
      ? (dev.longIds?.get(arr[o + 1] as number) ?? '')
      : unpack(b0, arr[o + 1] as number, arr[o + 2] as number);
  return a > b;
}

/** The id string of a compact key. */
function unpack(...fields: number[]): string {
  let s = '';
  for (const f of fields) {
    let v = f;
    const part: string[] = [];
    for (let i = 0; i < CHARS; i++) {
      const d = v % RADIX;
      v = (v - d) / RADIX;
      part.push(d === 0 ? '' : (ALPHABET[d - 1] as string));
    }
    s += part.reverse().join('');
  }
  return s;
}

/** cyrb53 (public domain, bryc): a 53-bit string hash, exact as a double. */
function hash53(id: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < id.length; i++) {
    const ch = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
