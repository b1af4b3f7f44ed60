// AssemblyScript: fused layer normalisation over float32 rows (src/backend/layernorm.ts is the
// reference and the float64 path), in SIMD. Each row is read for its sum, again for its squared
// deviations, and once more as it is written: it stays in cache in between. Sums of a row run in
// four f32 lanes, then are added in f64; the parameters' gradients (sums over all rows) are
// accumulated in f64 pairs, so long batches lose no digits. Pointers are byte addresses.

@inline function hsum(v: v128): f64 {
  return <f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1) + <f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3);
}

/** x [M, N] → out [M, N]; weight, bias [N] or 0; each row's mean and rstd to mean, rstd [M]. */
export function ln_forward(x: usize, M: i32, N: i32, w: usize, b: usize, eps: f64, out: usize, mean: usize, rstd: usize): void {
  for (let r = 0; r < M; r++) {
    const row = x + ((<usize>r * N) << 2), orow = out + ((<usize>r * N) << 2);
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= N; j += 4) acc = f32x4.add(acc, v128.load(row + (<usize>j << 2)));
    let s = hsum(acc);
    for (; j < N; j++) s += <f64>load<f32>(row + (<usize>j << 2));
    const mu = <f32>(s / N);
    const MU = f32x4.splat(mu);
    acc = f32x4.splat(0);
    j = 0;
    for (; j + 4 <= N; j += 4) {
      const c = f32x4.sub(v128.load(row + (<usize>j << 2)), MU);
      acc = f32x4.add(acc, f32x4.mul(c, c));
    }
    let sq = hsum(acc);
    for (; j < N; j++) {
      const c = <f64>(load<f32>(row + (<usize>j << 2)) - mu);
      sq += c * c;
    }
    const rs = <f32>(1.0 / Math.sqrt(sq / N + eps));
    store<f32>(mean + (<usize>r << 2), mu);
    store<f32>(rstd + (<usize>r << 2), rs);
    const RS = f32x4.splat(rs);
    j = 0;
    for (; j + 4 <= N; j += 4) {
      const o = <usize>j << 2;
      let y = f32x4.mul(f32x4.sub(v128.load(row + o), MU), RS);
      if (w) y = f32x4.mul(y, v128.load(w + o));
      if (b) y = f32x4.add(y, v128.load(b + o));
      v128.store(orow + o, y);
    }
    for (; j < N; j++) {
      const o = <usize>j << 2;
      let y = (load<f32>(row + o) - mu) * rs;
      if (w) y *= load<f32>(w + o);
      if (b) y += load<f32>(b + o);
      store<f32>(orow + o, y);
    }
  }
}

/**
 * From grad g and x [M, N], weight [N] or 0, the saved mean and rstd [M]: dx [M, N] (if dx ≠ 0),
 * and Σ over rows of g·x̂ and of g added into dw, db (f64 [N], zeroed by the caller; each if ≠ 0).
 */
export function ln_backward(g: usize, x: usize, M: i32, N: i32, w: usize, mean: usize, rstd: usize, dx: usize, dw: usize, db: usize): void {
  for (let r = 0; r < M; r++) {
    const off = (<usize>r * N) << 2;
    const grow = g + off, xrow = x + off;
    const mu = load<f32>(mean + (<usize>r << 2)), rs = load<f32>(rstd + (<usize>r << 2));
    const MU = f32x4.splat(mu), RS = f32x4.splat(rs);
    let sg = f32x4.splat(0), sgx = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const o = <usize>j << 2;
      const gi = v128.load(grow + o);
      const xh = f32x4.mul(f32x4.sub(v128.load(xrow + o), MU), RS);
      if (dw) {
        const t = f32x4.mul(gi, xh);
        const o2 = <usize>j << 3;
        v128.store(dw + o2, f64x2.add(v128.load(dw + o2), f64x2.promote_low_f32x4(t)));
        v128.store(dw + o2 + 16, f64x2.add(v128.load(dw + o2 + 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(t, t, 2, 3, 0, 1))));
      }
      if (db) {
        const o2 = <usize>j << 3;
        v128.store(db + o2, f64x2.add(v128.load(db + o2), f64x2.promote_low_f32x4(gi)));
        v128.store(db + o2 + 16, f64x2.add(v128.load(db + o2 + 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(gi, gi, 2, 3, 0, 1))));
      }
      const gh = w ? f32x4.mul(gi, v128.load(w + o)) : gi;
      sg = f32x4.add(sg, gh);
      sgx = f32x4.add(sgx, f32x4.mul(gh, xh));
    }
    let s1 = hsum(sg), s2 = hsum(sgx);
    for (; j < N; j++) {
      const o = <usize>j << 2;
      const gi = load<f32>(grow + o);
      const xh = (load<f32>(xrow + o) - mu) * rs;
      if (dw) store<f64>(dw + (<usize>j << 3), load<f64>(dw + (<usize>j << 3)) + <f64>(gi * xh));
      if (db) store<f64>(db + (<usize>j << 3), load<f64>(db + (<usize>j << 3)) + <f64>gi);
      const gh = w ? gi * load<f32>(w + o) : gi;
      s1 += <f64>gh;
      s2 += <f64>(gh * xh);
    }
    if (!dx) continue;
    const mg = <f32>(s1 / N), mgx = <f32>(s2 / N);
    const MG = f32x4.splat(mg), MGX = f32x4.splat(mgx);
    const drow = dx + off;
    j = 0;
    for (; j + 4 <= N; j += 4) {
      const o = <usize>j << 2;
      const gi = v128.load(grow + o);
      const gh = w ? f32x4.mul(gi, v128.load(w + o)) : gi;
      const xh = f32x4.mul(f32x4.sub(v128.load(xrow + o), MU), RS);
      v128.store(drow + o, f32x4.mul(RS, f32x4.sub(f32x4.sub(gh, MG), f32x4.mul(xh, MGX))));
    }
    for (; j < N; j++) {
      const o = <usize>j << 2;
      const gi = load<f32>(grow + o);
      const gh = w ? gi * load<f32>(w + o) : gi;
      const xh = (load<f32>(xrow + o) - mu) * rs;
      store<f32>(drow + o, rs * (gh - mg - xh * mgx));
    }
  }
}
