// Linear layers (y = x·Wᵀ + b) for a row or two of x, on W in its own layout ([N, K] row-major):
// each output is the dot product of two contiguous rows, so W streams through once per call with
// no packing (src/backend/wasm/linear.ts drives it; bigger batches go through the packed GEMM,
// matmul.as, and linBias below).

@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/**
 * One or two rows of y (y0, and y1 when `two`) from x rows a0 (and a1): W rows four at a time,
 * each loaded once for both x rows. Inlined with `two` constant, so each variant is branch-free.
 */
@inline function rowsBlock(a0: usize, a1: usize, two: bool, k: i32, w: usize, n: i32, bias: usize, hasBias: i32, y0: usize, y1: usize): void {
  const K = <usize>k << 2;
  const k4 = k & ~3;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const w0 = w + <usize>j * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
    let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
    let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
    let p = 0;
    for (; p < k4; p += 4) {
      const o = <usize>p << 2;
      const x0 = v128.load(a0 + o);
      const v0 = v128.load(w0 + o), v1 = v128.load(w1 + o), v2 = v128.load(w2 + o), v3 = v128.load(w3 + o);
      s00 = madd(x0, v0, s00);
      s01 = madd(x0, v1, s01);
      s02 = madd(x0, v2, s02);
      s03 = madd(x0, v3, s03);
      if (two) {
        const x1 = v128.load(a1 + o);
        s10 = madd(x1, v0, s10);
        s11 = madd(x1, v1, s11);
        s12 = madd(x1, v2, s12);
        s13 = madd(x1, v3, s13);
      }
    }
    let t00 = hsum(s00), t01 = hsum(s01), t02 = hsum(s02), t03 = hsum(s03);
    let t10 = hsum(s10), t11 = hsum(s11), t12 = hsum(s12), t13 = hsum(s13);
    for (; p < k; p++) {
      const o = <usize>p << 2;
      const x0 = load<f32>(a0 + o);
      const v0 = load<f32>(w0 + o), v1 = load<f32>(w1 + o), v2 = load<f32>(w2 + o), v3 = load<f32>(w3 + o);
      t00 += x0 * v0; t01 += x0 * v1; t02 += x0 * v2; t03 += x0 * v3;
      if (two) {
        const x1 = load<f32>(a1 + o);
        t10 += x1 * v0; t11 += x1 * v1; t12 += x1 * v2; t13 += x1 * v3;
      }
    }
    if (hasBias) {
      const b = bias + (<usize>j << 2);
      const b0 = load<f32>(b), b1 = load<f32>(b, 4), b2 = load<f32>(b, 8), b3 = load<f32>(b, 12);
      t00 += b0; t01 += b1; t02 += b2; t03 += b3;
      t10 += b0; t11 += b1; t12 += b2; t13 += b3;
    }
    const d0 = y0 + (<usize>j << 2);
    store<f32>(d0, t00); store<f32>(d0, t01, 4); store<f32>(d0, t02, 8); store<f32>(d0, t03, 12);
    if (two) {
      const d1 = y1 + (<usize>j << 2);
      store<f32>(d1, t10); store<f32>(d1, t11, 4); store<f32>(d1, t12, 8); store<f32>(d1, t13, 12);
    }
  }
  for (; j < n; j++) {
    const w0 = w + <usize>j * K;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
    let p = 0;
    for (; p < k4; p += 4) {
      const o = <usize>p << 2;
      const v0 = v128.load(w0 + o);
      s0 = madd(v128.load(a0 + o), v0, s0);
      if (two) s1 = madd(v128.load(a1 + o), v0, s1);
    }
    let t0 = hsum(s0), t1 = hsum(s1);
    for (; p < k; p++) {
      const o = <usize>p << 2;
      const v0 = load<f32>(w0 + o);
      t0 += load<f32>(a0 + o) * v0;
      if (two) t1 += load<f32>(a1 + o) * v0;
    }
    if (hasBias) {
      const b = load<f32>(bias + (<usize>j << 2));
      t0 += b;
      t1 += b;
    }
    store<f32>(y0 + (<usize>j << 2), t0);
    if (two) store<f32>(y1 + (<usize>j << 2), t1);
  }
}

/**
 * y[i][j] = Σ_p x[i][p]·w[j][p] + bias[j] for rows i in [i0, i1): x rows of k floats at row stride
 * xs (elements), w n rows of k floats, y rows of n floats; bias n floats when hasBias.
 */
export function linRows(x: usize, xs: i32, i0: i32, i1: i32, k: i32, w: usize, n: i32, bias: usize, hasBias: i32, y: usize): void {
  let i = i0;
  for (; i + 2 <= i1; i += 2) {
    const a0 = x + ((<usize>i * <usize>xs) << 2);
    const y0 = y + ((<usize>i * <usize>n) << 2);
    rowsBlock(a0, a0 + (<usize>xs << 2), true, k, w, n, bias, hasBias, y0, y0 + (<usize>n << 2));
  }
  if (i < i1) {
    const a0 = x + ((<usize>i * <usize>xs) << 2);
    const y0 = y + ((<usize>i * <usize>n) << 2);
    rowsBlock(a0, a0, false, k, w, n, bias, hasBias, y0, y0);
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
