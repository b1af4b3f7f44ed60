// AssemblyScript: the row passes of fused attention (src/backend/attention.ts) on float32 score
// blocks [rows, S] — scale, mask, max, exp, sum — in SIMD, with an exp of its own (wasm has none,
// and Math.exp per element was most of the fused kernel's time). Pointers are byte addresses;
// rows are contiguous (stride S). Keys at or after `keys(r)` (causal masking) are set to 0.

// expf as Cephes computes it: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial, then
// 2^n through the exponent bits; within 2 ulp of the true value over the range. Below −87 it gives
// 0 (the scores are shifted by their max, so such terms are below float32's precision of the sum);
// NaN stays NaN (a row with every key masked out). Exported for gelu.as's lockstep loops
// (scripts/gen-lockstep.mjs writes expv's steps out there and in the exp loops below).
export const LOG2E: f32 = 1.44269504088896341, LN2_HI: f32 = 0.693359375, LN2_LO: f32 = -2.12194440e-4;
export const P0: f32 = 1.9875691500e-4, P1: f32 = 1.3981999507e-3, P2: f32 = 8.3334519073e-3;
export const P3: f32 = 4.1665795894e-2, P4: f32 = 1.6666665459e-1, P5: f32 = 5.0000001201e-1;

@inline export function expv(x: v128): v128 {
  const lo = f32x4.lt(x, f32x4.splat(-87.0));
  const xc = f32x4.min(x, f32x4.splat(88.0));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(LOG2E)));
  const r = f32x4.sub(f32x4.sub(xc, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(P0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P5));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  // n ∈ [−126, 127] here (x ≥ −87 is kept, x ≤ 88): a normal power of two.
  const ni = i32x4.max_s(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(-126));
  const pow2 = i32x4.shl(i32x4.add(ni, i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(p, pow2), lo);
}

@inline export function exps(x: f32): f32 {
  if (x < -87.0) return 0;
  const xc = min(x, <f32>88.0);
  const n = nearest(xc * LOG2E);
  const r = xc - n * LN2_HI - n * LN2_LO;
  let p = P0;
  p = p * r + P1;
  p = p * r + P2;
  p = p * r + P3;
  p = p * r + P4;
  p = p * r + P5;
  p = p * r * r + r + 1.0;
  const ni = max(<i32>n, -126);
  return p * reinterpret<f32>((ni + 127) << 23);
}

/** Keys taking part in row r of the block at query i0 (causal: up to the query's own position). */
@inline function keysOf(r: i32, i0: i32, S: i32, causal: i32): i32 {
  return causal ? min(S, i0 + r + 1) : S;
}

/**
 * The scores of row r (p, in place) scaled and masked: s·scale + mask (mask: f32 [rows, S] or 0);
 * returns the row's max over its keys (NaN when one score is NaN).
 */
@inline function scaleRow(row: usize, mrow: usize, keys: i32, scale: f32): f32 {
  const SC = f32x4.splat(scale);
  let mx = f32x4.splat(-Infinity);
  let nan = i32x4.splat(0);
  let j = 0;
  for (; j + 4 <= keys; j += 4) {
    const o = <usize>j << 2;
    let s = f32x4.mul(v128.load(row + o), SC);
    if (mrow) s = f32x4.add(s, v128.load(mrow + o));
    v128.store(row + o, s);
    mx = f32x4.max(mx, s);
    nan = v128.or(nan, f32x4.ne(s, s));
  }
  let m = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
  if (v128.any_true(nan)) m = NaN;
  for (; j < keys; j++) {
    const o = <usize>j << 2;
    let s = load<f32>(row + o) * scale;
    if (mrow) s += load<f32>(mrow + o);
    store<f32>(row + o, s);
    if (s > m || s != s) m = s;
  }
  return m;
}

/**
 * Forward rows: p [rows, S] scores → softmax probabilities e/Σe in place (0 beyond each row's
 * keys); each row's logsumexp (max + log Σe) to lse (f32 [rows]) unless lse is 0.
 */
export function at_forward(p: usize, rows: i32, S: i32, i0: i32, causal: i32, scale: f32, mask: usize, lse: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = p + ((<usize>r * S) << 2), mrow = mask ? mask + ((<usize>r * S) << 2) : 0;
    const keys = keysOf(r, i0, S, causal);
    const m = scaleRow(row, mrow, keys, scale);
    const M = f32x4.splat(m);
    let acc = f32x4.splat(0);
    let j = 0;
    // Four vectors in lockstep (scripts/gen-lockstep.mjs): exp's chain is latency-bound.
    for (; j + 16 <= keys; j += 16) {
      const o = <usize>j << 2;
      // <lockstep at_forward>
      const s0 = f32x4.sub(v128.load(row + o), M);
      const s1 = f32x4.sub(v128.load(row + o + 16), M);
      const s2 = f32x4.sub(v128.load(row + o + 32), M);
      const s3 = f32x4.sub(v128.load(row + o + 48), M);
      const lo0 = f32x4.lt(s0, f32x4.splat(-87.0));
      const lo1 = f32x4.lt(s1, f32x4.splat(-87.0));
      const lo2 = f32x4.lt(s2, f32x4.splat(-87.0));
      const lo3 = f32x4.lt(s3, f32x4.splat(-87.0));
      const xc0 = f32x4.min(s0, f32x4.splat(88.0));
      const xc1 = f32x4.min(s1, f32x4.splat(88.0));
      const xc2 = f32x4.min(s2, f32x4.splat(88.0));
      const xc3 = f32x4.min(s3, f32x4.splat(88.0));
      const n0 = f32x4.nearest(f32x4.mul(xc0, f32x4.splat(LOG2E)));
      const n1 = f32x4.nearest(f32x4.mul(xc1, f32x4.splat(LOG2E)));
      const n2 = f32x4.nearest(f32x4.mul(xc2, f32x4.splat(LOG2E)));
      const n3 = f32x4.nearest(f32x4.mul(xc3, f32x4.splat(LOG2E)));
      const r0 = f32x4.sub(f32x4.sub(xc0, f32x4.mul(n0, f32x4.splat(LN2_HI))), f32x4.mul(n0, f32x4.splat(LN2_LO)));
      const r1 = f32x4.sub(f32x4.sub(xc1, f32x4.mul(n1, f32x4.splat(LN2_HI))), f32x4.mul(n1, f32x4.splat(LN2_LO)));
      const r2 = f32x4.sub(f32x4.sub(xc2, f32x4.mul(n2, f32x4.splat(LN2_HI))), f32x4.mul(n2, f32x4.splat(LN2_LO)));
      const r3 = f32x4.sub(f32x4.sub(xc3, f32x4.mul(n3, f32x4.splat(LN2_HI))), f32x4.mul(n3, f32x4.splat(LN2_LO)));
      let q0 = f32x4.splat(P0);
      let q1 = f32x4.splat(P0);
      let q2 = f32x4.splat(P0);
      let q3 = f32x4.splat(P0);
      q0 = f32x4.add(f32x4.mul(q0, r0), f32x4.splat(P1));
      q1 = f32x4.add(f32x4.mul(q1, r1), f32x4.splat(P1));
      q2 = f32x4.add(f32x4.mul(q2, r2), f32x4.splat(P1));
      q3 = f32x4.add(f32x4.mul(q3, r3), f32x4.splat(P1));
      q0 = f32x4.add(f32x4.mul(q0, r0), f32x4.splat(P2));
      q1 = f32x4.add(f32x4.mul(q1, r1), f32x4.splat(P2));
      q2 = f32x4.add(f32x4.mul(q2, r2), f32x4.splat(P2));
      q3 = f32x4.add(f32x4.mul(q3, r3), f32x4.splat(P2));
      q0 = f32x4.add(f32x4.mul(q0, r0), f32x4.splat(P3));
      q1 = f32x4.add(f32x4.mul(q1, r1), f32x4.splat(P3));
      q2 = f32x4.add(f32x4.mul(q2, r2), f32x4.splat(P3));
      q3 = f32x4.add(f32x4.mul(q3, r3), f32x4.splat(P3));
      q0 = f32x4.add(f32x4.mul(q0, r0), f32x4.splat(P4));
      q1 = f32x4.add(f32x4.mul(q1, r1), f32x4.splat(P4));
      q2 = f32x4.add(f32x4.mul(q2, r2), f32x4.splat(P4));
      q3 = f32x4.add(f32x4.mul(q3, r3), f32x4.splat(P4));
      q0 = f32x4.add(f32x4.mul(q0, r0), f32x4.splat(P5));
      q1 = f32x4.add(f32x4.mul(q1, r1), f32x4.splat(P5));
      q2 = f32x4.add(f32x4.mul(q2, r2), f32x4.splat(P5));
      q3 = f32x4.add(f32x4.mul(q3, r3), f32x4.splat(P5));
      q0 = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(q0, r0), r0), r0), f32x4.splat(1.0));
      q1 = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(q1, r1), r1), r1), f32x4.splat(1.0));
      q2 = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(q2, r2), r2), r2), f32x4.splat(1.0));
      q3 = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(q3, r3), r3), r3), f32x4.splat(1.0));
      const ni0 = i32x4.max_s(i32x4.trunc_sat_f32x4_s(n0), i32x4.splat(-126));
      const ni1 = i32x4.max_s(i32x4.trunc_sat_f32x4_s(n1), i32x4.splat(-126));
      const ni2 = i32x4.max_s(i32x4.trunc_sat_f32x4_s(n2), i32x4.splat(-126));
      const ni3 = i32x4.max_s(i32x4.trunc_sat_f32x4_s(n3), i32x4.splat(-126));
      const e0 = v128.andnot(f32x4.mul(q0, i32x4.shl(i32x4.add(ni0, i32x4.splat(127)), 23)), lo0);
      const e1 = v128.andnot(f32x4.mul(q1, i32x4.shl(i32x4.add(ni1, i32x4.splat(127)), 23)), lo1);
      const e2 = v128.andnot(f32x4.mul(q2, i32x4.shl(i32x4.add(ni2, i32x4.splat(127)), 23)), lo2);
      const e3 = v128.andnot(f32x4.mul(q3, i32x4.shl(i32x4.add(ni3, i32x4.splat(127)), 23)), lo3);
      v128.store(row + o, e0);
      v128.store(row + o + 16, e1);
      v128.store(row + o + 32, e2);
      v128.store(row + o + 48, e3);
      acc = f32x4.add(acc, e0);
      acc = f32x4.add(acc, e1);
      acc = f32x4.add(acc, e2);
      acc = f32x4.add(acc, e3);
      // </lockstep>
    }
    for (; j + 4 <= keys; j += 4) {
      const o = <usize>j << 2;
      const e = expv(f32x4.sub(v128.load(row + o), M));
      v128.store(row + o, e);
      acc = f32x4.add(acc, e);
    }
    let sum: f64 = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
    for (; j < keys; j++) {
      const o = <usize>j << 2;
      const e = exps(load<f32>(row + o) - m);
      store<f32>(row + o, e);
      sum += e;
    }
    const inv = <f32>(1.0 / sum);
    const IV = f32x4.splat(inv);
    j = 0;
    for (; j + 4 <= keys; j += 4) v128.store(row + (<usize>j << 2), f32x4.mul(v128.load(row + (<usize>j << 2)), IV));
    for (; j < keys; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) * inv);
    for (j = keys; j < S; j++) store<f32>(row + (<usize>j << 2), 0);
    if (lse) store<f32>(lse + (<usize>r << 2), <f32>(<f64>m + Math.log(sum)));
  }
}

/**
 * Backward rows: p [rows, S] scores → probabilities exp(s − lse) in place; dp [rows, S] = dO·vᵀ →
 * dS·scale = p ⊙ (dp − delta)·scale in place (delta: f32 [rows], rowsum(dO ⊙ O)); 0 beyond keys.
 */
export function at_backward(p: usize, dp: usize, rows: i32, S: i32, i0: i32, causal: i32, scale: f32, mask: usize, lse: usize, delta: usize): void {
  const SC = f32x4.splat(scale);
  for (let r = 0; r < rows; r++) {
    const off = (<usize>r * S) << 2;
    const row = p + off, drow = dp + off, mrow = mask ? mask + off : 0;
    const keys = keysOf(r, i0, S, causal);
    scaleRow(row, mrow, keys, scale);
    const m = load<f32>(lse + (<usize>r << 2)), d = load<f32>(delta + (<usize>r << 2));
    const M = f32x4.splat(m), D = f32x4.splat(d);
    let j = 0;
    for (; j + 16 <= keys; j += 16) {
      const o = <usize>j << 2;
      // <lockstep at_backward>
      const s0 = f32x4.sub(v128.load(row + o), M);
      const s1 = f32x4.sub(v128.load(row + o + 16), M);
      const s2 = f32x4.sub(v128.load(row + o + 32), M);
      const s3 = f32x4.sub(v128.load(row + o + 48), M);
      const lo0 = f32x4.lt(s0, f32x4.splat(-87.0));
      const lo1 = f32x4.lt(s1, f32x4.splat(-87.0));
      const lo2 = f32x4.lt(s2, f32x4.splat(-87.0));
      const lo3 = f32x4.lt(s3, f32x4.splat(-87.0));
      const xc0 = f32x4.min(s0, f32x4.splat(88.0));
      const xc1 = f32x4.min(s1, f32x4.splat(88.0));
      const xc2 = f32x4.min(s2, f32x4.splat(88.0));
      const xc3 = f32x4.min(s3, f32x4.splat(88.0));
      const n0 = f32x4.nearest(f32x4.mul(xc0, f32x4.splat(LOG2E)));
      const n1 = f32x4.nearest(f32x4.mul(xc1, f32x4.splat(LOG2E)));
      const n2 = f32x4.nearest(f32x4.mul(xc2, f32x4.splat(LOG2E)));
      const n3 = f32x4.nearest(f32x4.mul(xc3, f32x4.splat(LOG2E)));
      const r0 = f32x4.sub(f32x4.sub(xc0, f32x4.mul(n0, f32x4.splat(LN2_HI))), f32x4.mul(n0, f32x4.splat(LN2_LO)));
      const r1 = f32x4.sub(f32x4.sub(xc1, f32x4.mul(n1, f32x4.splat(LN2_HI))), f32x4.mul(n1, f32x4.splat(LN2_LO)));
      const r2 = f32x4.sub(f32x4.sub(xc2, f32x4.mul(n2, f32x4.splat(LN2_HI))), f32x4.mul(n2, f32x4.splat(LN2_LO)));
      const r3 = f32x4.sub(f32x4.sub(xc3, f32x4.mul(n3, f32x4.splat(LN2_HI))), f32x4.mul(n3, f32x4.splat(LN2_LO)));
      let q0 = f32x4.splat(P0);
      let q1 = f32x4.splat(P0);
      let q2 = f32x4.splat(P0);
      let q3 = f32x4.splat(P0);
      q0 = f32x4.add(f32x4.mul(q0, r0), f32x4.splat(P1));
      q1 = f32x4.add(f32x4.mul(q1, r1), f32x4.splat(P1));
      q2 = f32x4.add(f32x4.mul(q2, r2), f32x4.splat(P1));
      q3 = f32x4.add(f32x4.mul(q3, r3), f32x4.splat(P1));
      q0 = f32x4.add(f32x4.mul(q0, r0), f32x4.splat(P2));
      q1 = f32x4.add(f32x4.mul(q1, r1), f32x4.splat(P2));
      q2 = f32x4.add(f32x4.mul(q2, r2), f32x4.splat(P2));
      q3 = f32x4.add(f32x4.mul(q3, r3), f32x4.splat(P2));
      q0 = f32x4.add(f32x4.mul(q0, r0), f32x4.splat(P3));
      q1 = f32x4.add(f32x4.mul(q1, r1), f32x4.splat(P3));
      q2 = f32x4.add(f32x4.mul(q2, r2), f32x4.splat(P3));
      q3 = f32x4.add(f32x4.mul(q3, r3), f32x4.splat(P3));
      q0 = f32x4.add(f32x4.mul(q0, r0), f32x4.splat(P4));
      q1 = f32x4.add(f32x4.mul(q1, r1), f32x4.splat(P4));
      q2 = f32x4.add(f32x4.mul(q2, r2), f32x4.splat(P4));
      q3 = f32x4.add(f32x4.mul(q3, r3), f32x4.splat(P4));
      q0 = f32x4.add(f32x4.mul(q0, r0), f32x4.splat(P5));
      q1 = f32x4.add(f32x4.mul(q1, r1), f32x4.splat(P5));
      q2 = f32x4.add(f32x4.mul(q2, r2), f32x4.splat(P5));
      q3 = f32x4.add(f32x4.mul(q3, r3), f32x4.splat(P5));
      q0 = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(q0, r0), r0), r0), f32x4.splat(1.0));
      q1 = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(q1, r1), r1), r1), f32x4.splat(1.0));
      q2 = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(q2, r2), r2), r2), f32x4.splat(1.0));
      q3 = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(q3, r3), r3), r3), f32x4.splat(1.0));
      const ni0 = i32x4.max_s(i32x4.trunc_sat_f32x4_s(n0), i32x4.splat(-126));
      const ni1 = i32x4.max_s(i32x4.trunc_sat_f32x4_s(n1), i32x4.splat(-126));
      const ni2 = i32x4.max_s(i32x4.trunc_sat_f32x4_s(n2), i32x4.splat(-126));
      const ni3 = i32x4.max_s(i32x4.trunc_sat_f32x4_s(n3), i32x4.splat(-126));
      const e0 = v128.andnot(f32x4.mul(q0, i32x4.shl(i32x4.add(ni0, i32x4.splat(127)), 23)), lo0);
      const e1 = v128.andnot(f32x4.mul(q1, i32x4.shl(i32x4.add(ni1, i32x4.splat(127)), 23)), lo1);
      const e2 = v128.andnot(f32x4.mul(q2, i32x4.shl(i32x4.add(ni2, i32x4.splat(127)), 23)), lo2);
      const e3 = v128.andnot(f32x4.mul(q3, i32x4.shl(i32x4.add(ni3, i32x4.splat(127)), 23)), lo3);
      v128.store(row + o, e0);
      v128.store(row + o + 16, e1);
      v128.store(row + o + 32, e2);
      v128.store(row + o + 48, e3);
      v128.store(drow + o, f32x4.mul(f32x4.mul(e0, f32x4.sub(v128.load(drow + o), D)), SC));
      v128.store(drow + o + 16, f32x4.mul(f32x4.mul(e1, f32x4.sub(v128.load(drow + o + 16), D)), SC));
      v128.store(drow + o + 32, f32x4.mul(f32x4.mul(e2, f32x4.sub(v128.load(drow + o + 32), D)), SC));
      v128.store(drow + o + 48, f32x4.mul(f32x4.mul(e3, f32x4.sub(v128.load(drow + o + 48), D)), SC));
      // </lockstep>
    }
    for (; j + 4 <= keys; j += 4) {
      const o = <usize>j << 2;
      const e = expv(f32x4.sub(v128.load(row + o), M));
      v128.store(row + o, e);
      v128.store(drow + o, f32x4.mul(f32x4.mul(e, f32x4.sub(v128.load(drow + o), D)), SC));
    }
    for (; j < keys; j++) {
      const o = <usize>j << 2;
      const e = exps(load<f32>(row + o) - m);
      store<f32>(row + o, e);
      store<f32>(drow + o, e * (load<f32>(drow + o) - d) * scale);
    }
    for (j = keys; j < S; j++) {
      store<f32>(row + (<usize>j << 2), 0);
      store<f32>(drow + (<usize>j << 2), 0);
    }
  }
}
