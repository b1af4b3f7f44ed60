// AssemblyScript: float32 reductions (sum, prod, max, min), argmax/argmin, gather and scatter-add,
// with the reference kernels' exact semantics (src/backend/js/index.ts): a sum or product is
// accumulated in f64 over the reduced elements in row-major order and rounded once, so the result
// is bitwise the js kernel's; max/min keep the first extreme and let the first NaN win.
// The caller (reduce.ts) flattens the loops it does not need inside wasm into tables of i32
// element offsets (koff for kept positions, roff for reduced ones); pointers are byte addresses.

const SUM = 0, PROD = 1, MAX = 2, MIN = 3;
/** Outputs per block of the column kernel: the f64 accumulators (8 KiB) stay in L1. */
const CHUNK = 1024;

@inline function at(base: usize, off: i32): usize {
  return base + (<usize>off << 2); // wraps mod 2^32, so negative offsets work
}
@inline function off(table: usize, i: i32): i32 {
  return load<i32>(table + (<usize>i << 2));
}
/** The js kernel's max/min step: take v if it is more extreme, or NaN (which then sticks). */
@inline function pick(op: i32, a: f32, v: f32): f32 {
  return (op == MAX ? v > a : v < a) || v != v ? v : a;
}
@inline function pick4(op: i32, a: v128, v: v128): v128 {
  const m = v128.or(op == MAX ? f32x4.gt(v, a) : f32x4.lt(v, a), f32x4.ne(v, v));
  return v128.bitselect(v, a, m);
}

/**
 * Reduction whose last kept dim is contiguous (stride 1, length n): outputs are vector lanes, and
 * each row of the reduced loop adds n contiguous floats into n accumulators, so every output still
 * sees its elements in row-major order. koff: nko offsets of the other kept dims; roff: nr
 * offsets of the reduced elements; acc: CHUNK f64 of scratch.
 */
export function red_reduceCols(op: i32, x: usize, koff: usize, nko: i32, n: i32, roff: usize, nr: i32, out: usize, acc: usize): void {
  let o = out;
  for (let k = 0; k < nko; k++) {
    const base = at(x, off(koff, k));
    for (let c0 = 0; c0 < n; c0 += CHUNK) {
      const cl = min(CHUNK, n - c0);
      const p0 = base + (<usize>c0 << 2);
      if (op == SUM) cols64(SUM, p0, roff, nr, cl, o, acc);
      else if (op == PROD) cols64(PROD, p0, roff, nr, cl, o, acc);
      else if (op == MAX) cols32(MAX, p0, roff, nr, cl, o);
      else cols32(MIN, p0, roff, nr, cl, o);
      o += <usize>cl << 2;
    }
  }
}

@inline function cols64(op: i32, p0: usize, roff: usize, nr: i32, cl: i32, out: usize, acc: usize): void {
  const init = f64x2.splat(op == SUM ? 0.0 : 1.0);
  for (let j = 0; j < cl; j += 2) v128.store(acc + (<usize>j << 3), init); // may write one past cl: acc has room
  for (let r = 0; r < nr; r++) {
    const p = at(p0, off(roff, r));
    let j = 0;
    for (; j + 4 <= cl; j += 4) {
      const v = v128.load(p + (<usize>j << 2));
      const lo = f64x2.promote_low_f32x4(v);
      const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
      const a = acc + (<usize>j << 3);
      if (op == SUM) {
        v128.store(a, f64x2.add(v128.load(a), lo));
        v128.store(a, f64x2.add(v128.load(a, 16), hi), 16);
      } else {
        v128.store(a, f64x2.mul(v128.load(a), lo));
        v128.store(a, f64x2.mul(v128.load(a, 16), hi), 16);
      }
    }
    for (; j < cl; j++) {
      const a = acc + (<usize>j << 3);
      const v = <f64>load<f32>(p + (<usize>j << 2));
      store<f64>(a, op == SUM ? load<f64>(a) + v : load<f64>(a) * v);
    }
  }
  let j = 0;
  for (; j + 4 <= cl; j += 4) {
    const a = acc + (<usize>j << 3);
    const lo = f32x4.demote_f64x2_zero(v128.load(a));
    const hi = f32x4.demote_f64x2_zero(v128.load(a, 16));
    v128.store(out + (<usize>j << 2), v128.shuffle<f32>(lo, hi, 0, 1, 4, 5));
  }
  for (; j < cl; j++) store<f32>(out + (<usize>j << 2), <f32>load<f64>(acc + (<usize>j << 3)));
}

@inline function cols32(op: i32, p0: usize, roff: usize, nr: i32, cl: i32, out: usize): void {
  const init: f32 = op == MAX ? -Infinity : Infinity;
  for (let j = 0; j < cl; j++) store<f32>(out + (<usize>j << 2), init);
  for (let r = 0; r < nr; r++) {
    const p = at(p0, off(roff, r));
    let j = 0;
    for (; j + 4 <= cl; j += 4) {
      const o = out + (<usize>j << 2);
      v128.store(o, pick4(op, v128.load(o), v128.load(p + (<usize>j << 2))));
    }
    for (; j < cl; j++) {
      const o = out + (<usize>j << 2);
      store<f32>(o, pick(op, load<f32>(o), load<f32>(p + (<usize>j << 2))));
    }
  }
}

/**
 * Any other reduction: each output is one sequential chain over the reduced elements (nro outer
 * offsets in roff, then rn elements at stride rs), four outputs at a time so that their
 * independent chains overlap. koff: nk offsets, one per output.
 */
export function red_reduceRows(op: i32, x: usize, koff: usize, nk: i32, roff: usize, nro: i32, rn: i32, rs: i32, out: usize): void {
  if (op == SUM) rows64(SUM, x, koff, nk, roff, nro, rn, rs, out);
  else if (op == PROD) rows64(PROD, x, koff, nk, roff, nro, rn, rs, out);
  else if (op == MAX) rows32(MAX, x, koff, nk, roff, nro, rn, rs, out);
  else rows32(MIN, x, koff, nk, roff, nro, rn, rs, out);
}

@inline function acc64(op: i32, a: f64, p: usize): f64 {
  const v = <f64>load<f32>(p);
  return op == SUM ? a + v : a * v;
}

@inline function rows64(op: i32, x: usize, koff: usize, nk: i32, roff: usize, nro: i32, rn: i32, rs: i32, out: usize): void {
  const step = <usize>rs << 2;
  const init: f64 = op == SUM ? 0.0 : 1.0;
  let k = 0;
  for (; k + 4 <= nk; k += 4) {
    let a0 = init, a1 = init, a2 = init, a3 = init;
    const b0 = at(x, off(koff, k)), b1 = at(x, off(koff, k + 1)), b2 = at(x, off(koff, k + 2)), b3 = at(x, off(koff, k + 3));
    for (let r = 0; r < nro; r++) {
      const d = <usize>off(roff, r) << 2;
      let p0 = b0 + d, p1 = b1 + d, p2 = b2 + d, p3 = b3 + d;
      for (let i = 0; i < rn; i++) {
        a0 = acc64(op, a0, p0); a1 = acc64(op, a1, p1); a2 = acc64(op, a2, p2); a3 = acc64(op, a3, p3);
        p0 += step; p1 += step; p2 += step; p3 += step;
      }
    }
    const o = out + (<usize>k << 2);
    store<f32>(o, <f32>a0); store<f32>(o, <f32>a1, 4); store<f32>(o, <f32>a2, 8); store<f32>(o, <f32>a3, 12);
  }
  for (; k < nk; k++) {
    let a = init;
    const b = at(x, off(koff, k));
    for (let r = 0; r < nro; r++) {
      let p = b + (<usize>off(roff, r) << 2);
      for (let i = 0; i < rn; i++) { a = acc64(op, a, p); p += step; }
    }
    store<f32>(out + (<usize>k << 2), <f32>a);
  }
}

@inline function rows32(op: i32, x: usize, koff: usize, nk: i32, roff: usize, nro: i32, rn: i32, rs: i32, out: usize): void {
  const step = <usize>rs << 2;
  let k = 0;
  for (; k + 4 <= nk; k += 4) {
    const b0 = at(x, off(koff, k)), b1 = at(x, off(koff, k + 1)), b2 = at(x, off(koff, k + 2)), b3 = at(x, off(koff, k + 3));
    v128.store(out + (<usize>k << 2), lanes32(op, b0, b1, b2, b3, roff, nro, rn, step));
  }
  const rem = nk - k;
  if (rem > 0) {
    // The last one to three outputs as lanes too, the spare lanes repeating the first of them.
    const b0 = at(x, off(koff, k));
    const b1 = rem > 1 ? at(x, off(koff, k + 1)) : b0, b2 = rem > 2 ? at(x, off(koff, k + 2)) : b0;
    const a = lanes32(op, b0, b1, b2, b0, roff, nro, rn, step);
    const o = out + (<usize>k << 2);
    store<f32>(o, f32x4.extract_lane(a, 0));
    if (rem > 1) store<f32>(o, f32x4.extract_lane(a, 1), 4);
    if (rem > 2) store<f32>(o, f32x4.extract_lane(a, 2), 8);
  }
}

/** max/min of four outputs as the lanes of one vector (V8 turns a scalar f32 select into a branch). */
@inline function lanes32(op: i32, b0: usize, b1: usize, b2: usize, b3: usize, roff: usize, nro: i32, rn: i32, step: usize): v128 {
  let a = f32x4.splat(op == MAX ? -Infinity : Infinity);
  for (let r = 0; r < nro; r++) {
    const d = <usize>off(roff, r) << 2;
    let p0 = b0 + d, p1 = b1 + d, p2 = b2 + d, p3 = b3 + d;
    for (let i = 0; i < rn; i++) {
      let v = v128.load32_zero(p0);
      v = v128.load32_lane(p1, v, 1);
      v = v128.load32_lane(p2, v, 2);
      v = v128.load32_lane(p3, v, 3);
      a = pick4(op, a, v);
      p0 += step; p1 += step; p2 += step; p3 += step;
    }
  }
  return a;
}

/**
 * argmax (isMax 1) / argmin along an axis of length L and stride s (elements), for kept dims whose
 * last is contiguous (length n): four outputs per vector. The first extreme wins (strict compare),
 * and the first NaN wins: once the best is NaN nothing replaces it.
 */
export function red_argCols(isMax: i32, x: usize, koff: usize, nko: i32, n: i32, L: i32, s: i32, out: usize): void {
  const step = <usize>s << 2;
  let o = out;
  for (let k = 0; k < nko; k++) {
    const base = at(x, off(koff, k));
    let c = 0;
    for (; c + 4 <= n; c += 4) {
      let p = base + (<usize>c << 2);
      let best = v128.load(p), idx = i32x4.splat(0);
      for (let r = 1; r < L; r++) {
        p += step;
        const v = v128.load(p);
        const better = isMax ? f32x4.gt(v, best) : f32x4.lt(v, best);
        const m = v128.or(better, v128.and(f32x4.ne(v, v), f32x4.eq(best, best)));
        best = v128.bitselect(v, best, m);
        idx = v128.bitselect(i32x4.splat(r), idx, m);
      }
      v128.store(o, idx);
      o += 16;
    }
    for (; c < n; c++) {
      store<i32>(o, argOne(isMax, base + (<usize>c << 2), L, step));
      o += 4;
    }
  }
}

@inline function argOne(isMax: i32, p: usize, L: i32, step: usize): i32 {
  let best = load<f32>(p), bi = 0;
  if (best == best) {
    for (let r = 1; r < L; r++) {
      p += step;
      const v = load<f32>(p);
      if (v != v) { bi = r; break; }
      if (isMax ? v > best : v < best) { best = v; bi = r; }
    }
  }
  return bi;
}

/** argmax/argmin for any other layout: one scalar scan per output (koff: nk offsets). */
export function red_argRows(isMax: i32, x: usize, koff: usize, nk: i32, L: i32, s: i32, out: usize): void {
  const step = <usize>s << 2;
  for (let k = 0; k < nk; k++) store<i32>(out + (<usize>k << 2), argOne(isMax, at(x, off(koff, k)), L, step));
}

/**
 * out (total floats, zeroed here: memory.fill beats TypedArray.fill on shared memory tenfold)
 * += src scattered along an axis: for each of nouter rows of the index's
 * leading dims and j < inner along its last dim, out[ooff + j*os + index*st] += src[soff + j*ss],
 * in the reference's order (float32 adds, so bitwise). Returns 1, leaving out partly written, as
 * soon as an index is outside [0, dim): the caller then falls back to the reference kernel.
 */
export function red_scatterAdd(
  out: usize, idx: usize, src: usize, nouter: i32, ooff: usize, ioff: usize, soff: usize,
  inner: i32, os: i32, is: i32, ss: i32, st: i32, dim: i32, total: i32,
): i32 {
  memory.fill(out, 0, <usize>total << 2);
  const ostep = <usize>os << 2, istep = <usize>is << 2, sstep = <usize>ss << 2;
  for (let o = 0; o < nouter; o++) {
    let po = at(out, off(ooff, o)), pi = at(idx, off(ioff, o)), ps = at(src, off(soff, o));
    for (let j = 0; j < inner; j++) {
      const k = load<i32>(pi);
      if (<u32>k >= <u32>dim) return 1;
      const p = po + (<usize>(k * st) << 2);
      store<f32>(p, load<f32>(p) + load<f32>(ps));
      po += ostep; pi += istep; ps += sstep;
    }
  }
  return 0;
}

/**
 * out[o*inner + j] = x[xoff + j*xs + index*st] with the index at ioff + j*is (torch.gather);
 * returns 1 as soon as an index is outside [0, dim).
 */
export function red_gather(
  out: usize, x: usize, idx: usize, nouter: i32, xoff: usize, ioff: usize,
  inner: i32, xs: i32, is: i32, st: i32, dim: i32,
): i32 {
  const xstep = <usize>xs << 2, istep = <usize>is << 2;
  let po = out;
  for (let o = 0; o < nouter; o++) {
    let px = at(x, off(xoff, o)), pi = at(idx, off(ioff, o));
    for (let j = 0; j < inner; j++) {
      const k = load<i32>(pi);
      if (<u32>k >= <u32>dim) return 1;
      store<f32>(po, load<f32>(px + (<usize>(k * st) << 2)));
      po += 4; px += xstep; pi += istep;
    }
  }
  return 0;
}
