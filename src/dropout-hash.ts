// The dropout mask of fused attention as a pure function of (seed, row, column), so the backward
// regenerates the forward's mask instead of storing it ([B·L, S] values): a counter-based
// generator. Each query row gets a key from the seed, each element a 32-bit hash of that key plus
// its column, and is kept when the hash is at least round(p·2³²), so the keep rate is 1 − p to
// within 2⁻³². The mixer is the 32-bit finaliser used by MurmurHash3 (fmix32): every input bit
// affects every output bit. Shared by the kernels (src/backend/attention.ts, assembly/attention.as)
// and the op's composite backward (src/ops/attention.ts), which must see the same mask.

/** MurmurHash3's 32-bit finaliser, as an unsigned integer. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The key of query row `row` (b·L + i over the flattened batch) for a mask drawn with `seed`. */
export function dropoutRowKey(seed: number, row: number): number {
  return fmix32((seed ^ Math.imul(row, 0x9e3779b1)) >>> 0);
}

/** Hashes below this are dropped: round(p·2³²) (2³² for p = 1: everything dropped). */
export function dropoutThreshold(p: number): number {
  return Math.round(p * 2 ** 32);
}

/** Whether element (row, col) is kept, given its row's key and the threshold. */
export function dropoutKept(rowKey: number, col: number, threshold: number): boolean {
  return fmix32((rowKey + col) >>> 0) >= threshold;
}

/** The kept elements' factor 1/(1 − p); 0 for p = 1 (PyTorch's dropout gives zeros there). */
export function dropoutScale(p: number): number {
  return p < 1 ? 1 / (1 - p) : 0;
}

/** The mask [B, L, S] as values 0 or 1/(1 − p): what the fused kernels multiply the weights by. */
export function attentionDropoutMask(seed: number, p: number, B: number, L: number, S: number): Float64Array {
  const out = new Float64Array(B * L * S);
  const thr = dropoutThreshold(p), sc = dropoutScale(p);
  for (let r = 0; r < B * L; r++) {
    const key = dropoutRowKey(seed, r);
    for (let j = 0; j < S; j++) out[r * S + j] = dropoutKept(key, j, thr) ? sc : 0;
  }
  return out;
}
