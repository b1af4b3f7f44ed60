// Linear layers (y = x·Wᵀ + b) for a row or two of x (batch-1 inference), on Wᵀ packed as
// matmul.as packB packs it (NR-column panels per KC-deep block) and kept resident
// (src/backend/wasm/linear.ts): each output is summed in exactly the order and with exactly the
// operations of the packed GEMM (a multiply-add chain per KC block, blocks added to the running
// sum), then the bias added as linBias adds it, so a row's result does not depend on how many
// rows came with it (the server batches rows on that, src/serve/model-version.ts); it just
// skips the GEMM's padding of one row to four.

import { KC, NR } from './matmul';

@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** Stores panel sums s0, s1 (columns j0..j0+7) to y, + bias, only the columns below n. */
@inline function storePanel(s0: v128, s1: v128, j0: i32, n: i32, bias: usize, hasBias: i32, y: usize): void {
  const d = y + (<usize>j0 << 2);
  if (j0 + NR <= n) {
    if (hasBias) {
      s0 = f32x4.add(s0, v128.load(bias + (<usize>j0 << 2)));
      s1 = f32x4.add(s1, v128.load(bias + (<usize>j0 << 2), 16));
    }
    v128.store(d, s0);
    v128.store(d, s1, 16);
    return;
  }
  // the last, partial panel: lane by lane (the lanes past n are the packing's zeros)
  const m = n - j0;
  const bb = bias + (<usize>j0 << 2);
  const t0 = f32x4.extract_lane(s0, 0), t1 = f32x4.extract_lane(s0, 1), t2 = f32x4.extract_lane(s0, 2), t3 = f32x4.extract_lane(s0, 3);
  const t4 = f32x4.extract_lane(s1, 0), t5 = f32x4.extract_lane(s1, 1), t6 = f32x4.extract_lane(s1, 2);
  store<f32>(d, hasBias ? t0 + load<f32>(bb) : t0);
  if (m > 1) store<f32>(d, hasBias ? t1 + load<f32>(bb, 4) : t1, 4);
  if (m > 2) store<f32>(d, hasBias ? t2 + load<f32>(bb, 8) : t2, 8);
  if (m > 3) store<f32>(d, hasBias ? t3 + load<f32>(bb, 12) : t3, 12);
  if (m > 4) store<f32>(d, hasBias ? t4 + load<f32>(bb, 16) : t4, 16);
  if (m > 5) store<f32>(d, hasBias ? t5 + load<f32>(bb, 20) : t5, 20);
  if (m > 6) store<f32>(d, hasBias ? t6 + load<f32>(bb, 24) : t6, 24);
}

/**
 * y[j] = Σ_p x[p]·Wᵀ[p][j] (+ bias[j] when hasBias) for one row x of k floats, Wᵀ packed at bp
 * for n columns; y n floats. Six panels at a time (then four, then one): twelve independent
 * multiply-add chains keep the unit busy where one panel's two would wait on each other's latency
 * (784×256 at batch 1: 29.7 µs with four panels, 22.3 µs with six; a chain's order cannot change,
 * it is the GEMM's).
 */
export function linPackedRow(x: usize, k: i32, bp: usize, n: i32, bias: usize, hasBias: i32, y: usize): void {
  const np = (n + NR - 1) / NR * NR;
  let j0 = 0;
  // six panels at a time: twelve chains
  for (; j0 + 6 * NR <= np; j0 += 6 * NR) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0), s4 = f32x4.splat(0), s5 = f32x4.splat(0);
    let s6 = f32x4.splat(0), s7 = f32x4.splat(0), s8 = f32x4.splat(0), s9 = f32x4.splat(0), s10 = f32x4.splat(0), s11 = f32x4.splat(0);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const step = <usize>kc << 5;
      const b = bp + ((<usize>pc * <usize>np + <usize>j0 * <usize>kc) << 2);
      const a = x + (<usize>pc << 2);
      const bEnd = b + step;
      let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0), c4 = f32x4.splat(0), c5 = f32x4.splat(0);
      let c6 = f32x4.splat(0), c7 = f32x4.splat(0), c8 = f32x4.splat(0), c9 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      for (let q = b, r = a; q < bEnd; q += 32, r += 4) {
        const av = v128.load32_splat(r);
        c0 = madd(av, v128.load(q), c0);
        c1 = madd(av, v128.load(q, 16), c1);
        c2 = madd(av, v128.load(q + step), c2);
        c3 = madd(av, v128.load(q + step, 16), c3);
        c4 = madd(av, v128.load(q + 2 * step), c4);
        c5 = madd(av, v128.load(q + 2 * step, 16), c5);
        c6 = madd(av, v128.load(q + 3 * step), c6);
        c7 = madd(av, v128.load(q + 3 * step, 16), c7);
        c8 = madd(av, v128.load(q + 4 * step), c8);
        c9 = madd(av, v128.load(q + 4 * step, 16), c9);
        c10 = madd(av, v128.load(q + 5 * step), c10);
        c11 = madd(av, v128.load(q + 5 * step, 16), c11);
      }
      if (pc > 0) {
        c0 = f32x4.add(c0, s0); c1 = f32x4.add(c1, s1); c2 = f32x4.add(c2, s2); c3 = f32x4.add(c3, s3); c4 = f32x4.add(c4, s4); c5 = f32x4.add(c5, s5);
        c6 = f32x4.add(c6, s6); c7 = f32x4.add(c7, s7); c8 = f32x4.add(c8, s8); c9 = f32x4.add(c9, s9); c10 = f32x4.add(c10, s10); c11 = f32x4.add(c11, s11);
      }
      s0 = c0; s1 = c1; s2 = c2; s3 = c3; s4 = c4; s5 = c5; s6 = c6; s7 = c7; s8 = c8; s9 = c9; s10 = c10; s11 = c11;
    }
    storePanel(s0, s1, j0, n, bias, hasBias, y);
    storePanel(s2, s3, j0 + NR, n, bias, hasBias, y);
    storePanel(s4, s5, j0 + 2 * NR, n, bias, hasBias, y);
    storePanel(s6, s7, j0 + 3 * NR, n, bias, hasBias, y);
    storePanel(s8, s9, j0 + 4 * NR, n, bias, hasBias, y);
    storePanel(s10, s11, j0 + 5 * NR, n, bias, hasBias, y);
  }
  for (; j0 + 4 * NR <= np; j0 += 4 * NR) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let s4 = f32x4.splat(0), s5 = f32x4.splat(0), s6 = f32x4.splat(0), s7 = f32x4.splat(0);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const step = <usize>kc << 5; // one panel: kc × NR floats
      const b = bp + ((<usize>pc * <usize>np + <usize>j0 * <usize>kc) << 2);
      const a = x + (<usize>pc << 2);
      const bEnd = b + step;
      let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
      let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
      // one induction variable: the x element's address follows b's (4 bytes of x per 32 of a panel)
      for (let q = b, r = a; q < bEnd; q += 32, r += 4) {
        const av = v128.load32_splat(r);
        c0 = madd(av, v128.load(q), c0);
        c1 = madd(av, v128.load(q, 16), c1);
        c2 = madd(av, v128.load(q + step), c2);
        c3 = madd(av, v128.load(q + step, 16), c3);
        c4 = madd(av, v128.load(q + 2 * step), c4);
        c5 = madd(av, v128.load(q + 2 * step, 16), c5);
        c6 = madd(av, v128.load(q + 3 * step), c6);
        c7 = madd(av, v128.load(q + 3 * step, 16), c7);
      }
      if (pc > 0) {
        c0 = f32x4.add(c0, s0); c1 = f32x4.add(c1, s1); c2 = f32x4.add(c2, s2); c3 = f32x4.add(c3, s3);
        c4 = f32x4.add(c4, s4); c5 = f32x4.add(c5, s5); c6 = f32x4.add(c6, s6); c7 = f32x4.add(c7, s7);
      }
      s0 = c0; s1 = c1; s2 = c2; s3 = c3; s4 = c4; s5 = c5; s6 = c6; s7 = c7;
    }
    storePanel(s0, s1, j0, n, bias, hasBias, y);
    storePanel(s2, s3, j0 + NR, n, bias, hasBias, y);
    storePanel(s4, s5, j0 + 2 * NR, n, bias, hasBias, y);
    storePanel(s6, s7, j0 + 3 * NR, n, bias, hasBias, y);
  }
  for (; j0 < np; j0 += NR) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      let b = bp + ((<usize>pc * <usize>np + <usize>j0 * <usize>kc) << 2);
      let a = x + (<usize>pc << 2);
      let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
      for (let p = 0; p < kc; p++) {
        const av = v128.load32_splat(a);
        c0 = madd(av, v128.load(b), c0);
        c1 = madd(av, v128.load(b, 16), c1);
        a += 4;
        b += 32;
      }
      if (pc > 0) {
        c0 = f32x4.add(c0, s0);
        c1 = f32x4.add(c1, s1);
      }
      s0 = c0;
      s1 = c1;
    }
    storePanel(s0, s1, j0, n, bias, hasBias, y);
  }
}

/** y[i][j] += bias[j] for rows [i0, i1) of y (rows of n floats). */
export function linBias(y: usize, n: i32, i0: i32, i1: i32, bias: usize): void {
  const n4 = n & ~3;
  for (let i = i0; i < i1; i++) {
    const r = y + ((<usize>i * <usize>n) << 2);
    let j = 0;
    for (; j < n4; j += 4) {
      const o = <usize>j << 2;
      v128.store(r + o, f32x4.add(v128.load(r + o), v128.load(bias + o)));
    }
    for (; j < n; j++) {
      const o = <usize>j << 2;
      store<f32>(r + o, load<f32>(r + o) + load<f32>(bias + o));
    }
  }
}
