// AssemblyScript: the float32 fused kernels (src/backend/fused.ts) — Adam and SGD steps, max
// pooling and its backward. Each mirrors the reference in src/backend/js/fused.ts operation for
// operation: an f32 add/mul/div/sqrt here rounds exactly as the reference's double op followed by
// Math.fround, so the results are bitwise equal. No fused multiply-add (it would round once, not
// twice). Pointers are byte addresses; sizes and strides are in elements.

// Flags of fu_adam.
const ADAM_MAXIMIZE = 1, ADAM_DECOUPLED = 2, ADAM_WD = 4, ADAM_AMSGRAD = 8;

/**
 * Adam/AdamW in place on n contiguous floats at p, m, v (and vmax with ADAM_AMSGRAD); g is read.
 * The scalars come pre-rounded to float32 by the caller, like the reference's.
 */
export function fu_adam(
  p: usize, g: usize, m: usize, v: usize, vmax: usize, n: i32,
  beta1: f32, beta2: f32, eps: f32, wd: f32, bc2Sqrt: f32, negStep: f32, decay: f32, c1: f32, c2: f32, flags: i32,
): void {
  const maximize = (flags & ADAM_MAXIMIZE) != 0, decoupled = (flags & ADAM_DECOUPLED) != 0;
  const useWd = (flags & ADAM_WD) != 0, ams = (flags & ADAM_AMSGRAD) != 0;
  const B1 = f32x4.splat(beta1), B2 = f32x4.splat(beta2), EPS = f32x4.splat(eps), WD = f32x4.splat(wd);
  const BC2 = f32x4.splat(bc2Sqrt), NS = f32x4.splat(negStep), DEC = f32x4.splat(decay);
  const C1 = f32x4.splat(c1), C2 = f32x4.splat(c2);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let gi = v128.load(g + o);
    if (maximize) gi = f32x4.neg(gi);
    let pi = v128.load(p + o);
    if (decoupled) pi = f32x4.mul(pi, DEC);
    else if (useWd) gi = f32x4.add(gi, f32x4.mul(pi, WD));
    const mi = f32x4.add(f32x4.mul(v128.load(m + o), B1), f32x4.mul(gi, C1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + o), B2), f32x4.mul(f32x4.mul(gi, C2), gi));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    let second = vi;
    if (ams) {
      // The reference's `vmax > v || vmax is NaN ? vmax : v` (f32x4.max differs on ±0).
      const x = v128.load(vmax + o);
      second = v128.bitselect(x, vi, v128.or(f32x4.gt(x, vi), f32x4.ne(x, x)));
      v128.store(vmax + o, second);
    }
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(second), BC2), EPS);
    v128.store(p + o, f32x4.add(pi, f32x4.div(f32x4.mul(NS, mi), denom)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    let gi = load<f32>(g + o);
    if (maximize) gi = -gi;
    let pi = load<f32>(p + o);
    if (decoupled) pi = pi * decay;
    else if (useWd) gi = gi + pi * wd;
    const mi = load<f32>(m + o) * beta1 + gi * c1;
    const vi = load<f32>(v + o) * beta2 + gi * c2 * gi;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    let second = vi;
    if (ams) {
      const x = load<f32>(vmax + o);
      second = x > vi || x != x ? x : vi;
      store<f32>(vmax + o, second);
    }
    const denom = sqrt<f32>(second) / bc2Sqrt + eps;
    store<f32>(p + o, pi + (negStep * mi) / denom);
  }
}

// Flags of fu_sgd.
const SGD_MAXIMIZE = 1, SGD_WD = 2, SGD_MOMENTUM = 4, SGD_FIRST = 8, SGD_NESTEROV = 16;

/**
 * SGD in place on n contiguous floats at p (and the momentum buffer at buf with SGD_MOMENTUM;
 * SGD_FIRST sets it to the step's gradient instead of updating it); g is read.
 */
export function fu_sgd(p: usize, g: usize, buf: usize, n: i32, wd: f32, mom: f32, damp1: f32, negLr: f32, flags: i32): void {
  const maximize = (flags & SGD_MAXIMIZE) != 0, useWd = (flags & SGD_WD) != 0, useMom = (flags & SGD_MOMENTUM) != 0;
  const first = (flags & SGD_FIRST) != 0, nesterov = (flags & SGD_NESTEROV) != 0;
  const WD = f32x4.splat(wd), MOM = f32x4.splat(mom), D1 = f32x4.splat(damp1), LR = f32x4.splat(negLr);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let d = v128.load(g + o);
    if (maximize) d = f32x4.neg(d);
    const pi = v128.load(p + o);
    if (useWd) d = f32x4.add(d, f32x4.mul(pi, WD));
    if (useMom) {
      const b = first ? d : f32x4.add(f32x4.mul(v128.load(buf + o), MOM), f32x4.mul(d, D1));
      v128.store(buf + o, b);
      d = nesterov ? f32x4.add(d, f32x4.mul(b, MOM)) : b;
    }
    v128.store(p + o, f32x4.add(pi, f32x4.mul(d, LR)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    let d = load<f32>(g + o);
    if (maximize) d = -d;
    const pi = load<f32>(p + o);
    if (useWd) d = d + pi * wd;
    if (useMom) {
      const b = first ? d : load<f32>(buf + o) * mom + d * damp1;
      store<f32>(buf + o, b);
      d = nesterov ? d + b * mom : b;
    }
    store<f32>(p + o, pi + d * negLr);
  }
}

/** The reference's "take v over best": greater, or NaN over a number. */
@inline function takes(v: f32, best: f32): bool {
  return v > best || (v != v && best == best);
}
@inline function takes4(v: v128, best: v128): v128 {
  return v128.or(f32x4.gt(v, best), v128.and(f32x4.ne(v, v), f32x4.eq(best, best)));
}

/**
 * Max pooling of x (element (n,c,h,w) at x + (n*xn + c*xc + h*xh + w*xw)*4): window maxima to
 * out and the flat index h*W + w of each window's first maximum to arg, both contiguous
 * [N,C,OH,OW]. Every window must hold a pixel (padding at most half the kernel).
 */
export function fu_maxpool(
  x: usize, xn: i32, xc: i32, xh: i32, xw: i32,
  N: i32, C: i32, H: i32, W: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
  OH: i32, OW: i32, out: usize, arg: usize,
): void {
  const fast = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 && dw == 1 && xw == 1;
  let q: usize = 0;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = x + (<usize>(n * xn + c * xc) << 2);
      for (let oh = 0; oh < OH; oh++) {
        let ow = 0;
        if (fast) {
          pool22Row(base + (<usize>(2 * oh * xh) << 2), xh, 2 * oh * W, W, OW, out + q, arg + q);
          for (ow = OW & ~3, q += <usize>ow << 2; ow < OW; ow++, q += 4) pool22One(base, xh, oh, ow, W, out + q, arg + q);
          continue;
        }
        for (; ow < OW; ow++, q += 4) {
          let best: f32 = -Infinity;
          let bi = -1;
          for (let i = 0; i < kh; i++) {
            const h = oh * sh - ph + i * dh;
            if (h < 0 || h >= H) continue;
            for (let j = 0; j < kw; j++) {
              const w = ow * sw - pw + j * dw;
              if (w < 0 || w >= W) continue;
              const v = load<f32>(base + (<usize>(h * xh + w * xw) << 2));
              if (bi < 0 || takes(v, best)) { best = v; bi = h * W + w; }
            }
          }
          store<f32>(out + q, best);
          store<i32>(arg + q, bi);
        }
      }
    }
  }
}

/** One output of a 2×2, stride-2 pool (every tap is inside the image). */
@inline function pool22One(base: usize, xh: i32, oh: i32, ow: i32, W: i32, out: usize, arg: usize): void {
  const p = base + (<usize>(2 * oh * xh + 2 * ow) << 2), p1 = p + (<usize>xh << 2);
  const i0 = 2 * oh * W + 2 * ow;
  let best = load<f32>(p), bi = i0;
  let v = load<f32>(p, 4);
  if (takes(v, best)) { best = v; bi = i0 + 1; }
  v = load<f32>(p1);
  if (takes(v, best)) { best = v; bi = i0 + W; }
  v = load<f32>(p1, 4);
  if (takes(v, best)) { best = v; bi = i0 + W + 1; }
  store<f32>(out, best);
  store<i32>(arg, bi);
}

/**
 * The whole groups of 4 outputs of one output row of a 2×2, stride-2 pool: the two input rows at
 * row and row + xh, de-interleaved into even and odd columns, compared in the reference's window
 * order (h,w), (h,w+1), (h+1,w), (h+1,w+1). idx0 is the flat index of the row's first pixel.
 */
@inline function pool22Row(row: usize, xh: i32, idx0: i32, W: i32, OW: i32, out: usize, arg: usize): void {
  const row1 = row + (<usize>xh << 2);
  let idx = i32x4.add(i32x4.splat(idx0), i32x4(0, 2, 4, 6));
  const one = i32x4.splat(1), down = i32x4.splat(W), downOne = i32x4.splat(W + 1), eight = i32x4.splat(8);
  for (let ow = 0; ow + 4 <= OW; ow += 4) {
    const o = <usize>ow << 3;
    const a0 = v128.load(row + o), a1 = v128.load(row + o, 16);
    const b0 = v128.load(row1 + o), b1 = v128.load(row1 + o, 16);
    let best = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6);
    let bi = idx;
    let v = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7);
    let t = takes4(v, best);
    best = v128.bitselect(v, best, t); bi = v128.bitselect(i32x4.add(idx, one), bi, t);
    v = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
    t = takes4(v, best);
    best = v128.bitselect(v, best, t); bi = v128.bitselect(i32x4.add(idx, down), bi, t);
    v = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
    t = takes4(v, best);
    best = v128.bitselect(v, best, t); bi = v128.bitselect(i32x4.add(idx, downOne), bi, t);
    v128.store(out + (<usize>ow << 2), best);
    v128.store(arg + (<usize>ow << 2), bi);
    idx = i32x4.add(idx, eight);
  }
}

/**
 * The adjoint of max pooling: out (a contiguous [N,C,H*W], zeroed here) gets each gradient
 * element g (n,c,oh,ow at g + (n*gn + c*gc + oh*gh + ow*gw)*4) added at its plane's arg index,
 * in the reference's order (so overlapping windows sum identically).
 */
export function fu_maxpool_back(
  g: usize, gn: i32, gc: i32, gh: i32, gw: i32,
  N: i32, C: i32, OH: i32, OW: i32, arg: usize, HW: i32, out: usize,
): void {
  memory.fill(out, 0, <usize>N * C * HW << 2);
  let a = arg;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const plane = out + (<usize>(n * C + c) * HW << 2);
      const gb = g + (<usize>(n * gn + c * gc) << 2);
      for (let oh = 0; oh < OH; oh++) {
        const gr = gb + (<usize>(oh * gh) << 2);
        for (let ow = 0; ow < OW; ow++, a += 4) {
          const d = plane + (<usize>load<i32>(a) << 2);
          store<f32>(d, load<f32>(d) + load<f32>(gr + (<usize>(ow * gw) << 2)));
        }
      }
    }
  }
}
