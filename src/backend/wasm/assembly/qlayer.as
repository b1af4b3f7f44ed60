// Whole int8 layers for quantised models (src/backend/wasm/qlayer.ts drives them): float input →
// uint8 (x·(1/s_x), rounded half to even, + z_x, saturated to 0..255, as fbgemm does) → int8 GEMM
// with 32-bit accumulation (i32x4.dot_i16x8_s: 8 multiply-adds per instruction) → float output
// y = f32(acc − z_x·Σq_w[o]) · (s_x·s_w[o]) + b[o], optionally max(y, 0) (a fused ReLU), written
// straight into the layout the next layer reads. Each call covers a range of rows (Linear) or
// samples (Conv2d) so that the worker pool can split a batch.
// Operands: the inner dimension is padded to kp (a multiple of 8) with zero weights, so the loops
// need no scalar tails; weight rows are padded (Linear to a multiple of 4, Conv2d of 2) with zero
// rows and params hold np entries: zs i32[np] (z_x·Σq_w), then S f32[np], then b f32[np].

@inline function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 4, 2, 6), i32x4.shuffle(a, b, 1, 5, 3, 7));
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 4, 2, 6), i32x4.shuffle(c, d, 1, 5, 3, 7));
  return i32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

// z_x is added as a float (exact below 2^24) so that huge inputs saturate rather than wrap
@inline function q4(p: usize, vinv: v128, vz: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.nearest(f32x4.mul(v128.load(p), vinv)), vz));
}

@inline function q1(v: f32, inv: f32, zp: i32): u8 {
  const f = nearest<f32>(v * inv) + <f32>zp;
  return !(f > 0) ? 0 : f >= 255 ? 255 : <u8><i32>f; // NaN → 0, as trunc_sat gives
}

/** len floats at src → len bytes at dst, then dst[len..lenp) = zp. */
function quantizeSpan(src: usize, len: i32, lenp: i32, inv: f32, zp: i32, dst: usize): void {
  const vinv = f32x4.splat(inv);
  const vz = f32x4.splat(<f32>zp);
  let p = 0;
  for (; p + 16 <= len; p += 16) {
    const s = src + (<usize>p << 2);
    const a = i16x8.narrow_i32x4_s(q4(s, vinv, vz), q4(s + 16, vinv, vz));
    const b = i16x8.narrow_i32x4_s(q4(s + 32, vinv, vz), q4(s + 48, vinv, vz));
    v128.store(dst + <usize>p, i8x16.narrow_i16x8_u(a, b));
  }
  for (; p < len; p++) store<u8>(dst + <usize>p, q1(load<f32>(src + (<usize>p << 2)), inv, zp));
  for (; p < lenp; p++) store<u8>(dst + <usize>p, <u8>zp);
}

/**
 * As quantizeSpan, but each code stored as an i16 (dst[0..lenp) of 2 bytes each): the kernels
 * below then read their operands with plain loads instead of widening ones, which the engines
 * compile to a shuffle each (the one port those compete for with the dot products' neighbours).
 */
function quantizeSpan16(src: usize, len: i32, lenp: i32, inv: f32, zp: i32, dst: usize): void {
  const vinv = f32x4.splat(inv);
  const vz = f32x4.splat(<f32>zp);
  const lo = i16x8.splat(0), hi = i16x8.splat(255);
  let p = 0;
  for (; p + 8 <= len; p += 8) {
    const s = src + (<usize>p << 2);
    const a = i16x8.narrow_i32x4_s(q4(s, vinv, vz), q4(s + 16, vinv, vz));
    v128.store(dst + (<usize>p << 1), i16x8.min_s(i16x8.max_s(a, lo), hi));
  }
  for (; p < len; p++) store<u16>(dst + (<usize>p << 1), <u16>q1(load<f32>(src + (<usize>p << 2)), inv, zp));
  for (; p < lenp; p++) store<u16>(dst + (<usize>p << 1), <u16>zp);
}

/** C planes of HW floats at src → codes channel-last as i16 (dst[p·C + c]), as quantizeSpan rounds them. */
function quantizeHWC16(src: usize, C: i32, HW: i32, inv: f32, zp: i32, dst: usize): void {
  const step = <usize>C << 1;
  for (let c = 0; c < C; c++) {
    const s = src + ((<usize>c * <usize>HW) << 2);
    let d = dst + (<usize>c << 1);
    for (let p = 0; p < HW; p++) {
      store<u16>(d, <u16>q1(load<f32>(s + (<usize>p << 2)), inv, zp));
      d += step;
    }
  }
}

/**
 * A sample's conv straight from its channel-last input codes (i16 each, quantizeHWC16; no
 * unfold), for convolutions without padding or column dilation whose tap rows (kw·C codes, (j, c)
 * order) are whole groups of 8: each pixel's taps are kh runs of kw·C contiguous codes, and the
 * weights (op rows of K = kh·kw·C values widened to i16, in (i, j, c) order) run through them in
 * the same order. `table` holds P + 4
 * words of scratch for the pixels' byte offsets. Output: O planes of P floats at `on`.
 */
function directConv(
  xq: usize, C: i32, W: i32, kh: i32, kw: i32, sh: i32, sw: i32, dh: i32, OH: i32, OW: i32,
  w: usize, O: i32, op: i32, pzs: usize, ps: usize, pb: usize, on: usize, relu: i32, table: usize, raw: i32,
): void {
  const P = OH * OW;
  const Pp = (P + 3) & ~3;
  const seg = <usize>(kw * C) << 1;
  const rowStep = <usize>(dh * W * C) << 1;
  const K = <usize>kh * seg;
  for (let p = 0; p < Pp; p++) {
    const q = min(p, P - 1); // pixels past P repeat the last one; their lanes are never stored
    store<u32>(table + (<usize>p << 2), <u32>(((q / OW) * sh * W + (q % OW) * sw) * C * 2));
  }
  for (let o = 0; o < op; o += 2) {
    const w0 = w + <usize>o * K;
    const w1 = w0 + K;
    const O4 = <usize>o << 2;
    const zs0 = i32x4.splat(load<i32>(pzs + O4)), s0 = f32x4.splat(load<f32>(ps + O4)), b0 = f32x4.splat(load<f32>(pb + O4));
    const zs1 = i32x4.splat(load<i32>(pzs + O4, 4)), s1 = f32x4.splat(load<f32>(ps + O4, 4)), b1 = f32x4.splat(load<f32>(pb + O4, 4));
    const c0 = on + ((<usize>o * <usize>P) << 2);
    const c1 = c0 + (<usize>P << 2);
    const second = o + 1 < O;
    for (let p = 0; p < Pp; p += 4) {
      const tp = table + (<usize>p << 2);
      let r0 = xq + <usize>load<u32>(tp);
      let r1 = xq + <usize>load<u32>(tp, 4);
      let r2 = xq + <usize>load<u32>(tp, 8);
      let r3 = xq + <usize>load<u32>(tp, 12);
      let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a02 = i32x4.splat(0), a03 = i32x4.splat(0);
      let a10 = i32x4.splat(0), a11 = i32x4.splat(0), a12 = i32x4.splat(0), a13 = i32x4.splat(0);
      let u = w0, v = w1;
      for (let i = 0; i < kh; i++) {
        for (let t: usize = 0; t < seg; t += 16) {
          const u0 = v128.load(u + t);
          const u1 = v128.load(v + t);
          const v0 = v128.load(r0 + t);
          const v1 = v128.load(r1 + t);
          const v2 = v128.load(r2 + t);
          const v3 = v128.load(r3 + t);
          a00 = i32x4.add(a00, i32x4.dot_i16x8_s(u0, v0));
          a01 = i32x4.add(a01, i32x4.dot_i16x8_s(u0, v1));
          a02 = i32x4.add(a02, i32x4.dot_i16x8_s(u0, v2));
          a03 = i32x4.add(a03, i32x4.dot_i16x8_s(u0, v3));
          a10 = i32x4.add(a10, i32x4.dot_i16x8_s(u1, v0));
          a11 = i32x4.add(a11, i32x4.dot_i16x8_s(u1, v1));
          a12 = i32x4.add(a12, i32x4.dot_i16x8_s(u1, v2));
          a13 = i32x4.add(a13, i32x4.dot_i16x8_s(u1, v3));
        }
        u += seg;
        v += seg;
        r0 += rowStep;
        r1 += rowStep;
        r2 += rowStep;
        r3 += rowStep;
      }
      const Q = <usize>p << 2;
      const y0 = hsum4(a00, a01, a02, a03), y1 = hsum4(a10, a11, a12, a13);
      storeLanes(c0 + Q, raw ? y0 : epilogue(y0, zs0, s0, b0, relu), P - p);
      if (second) storeLanes(c1 + Q, raw ? y1 : epilogue(y1, zs1, s1, b1, relu), P - p);
    }
  }
}

/**
 * A sample's conv with few taps per pixel (a first layer's one or three channels), stride and
 * dilation 1 along rows (any down columns), no padding: four pixels of an output row at a time, each pair of
 * neighbouring taps (j, j+1) of a tap row as one i16x8 vector (x[ow+j], x[ow+j+1] for the four
 * pixels: one load and one shuffle of the sample's CHW i16 codes), built once per block and dotted
 * with every output channel's weight pair (wp: op rows of C·kh·⌈kw/2⌉ i32 words, low half the
 * tap j weight, high half tap j+1's or 0). No horizontal sums: each dot adds two taps to four
 * pixels. `pv` holds the block's pair vectors (16 bytes each); xq is padded by 8 codes.
 */
function pairConv(
  xq: usize, C: i32, H: i32, W: i32, kh: i32, kw: i32, sh: i32, dh: i32, OH: i32, OW: i32,
  wp: usize, O: i32, pzs: usize, ps: usize, pb: usize, on: usize, relu: i32, pv: usize, raw: i32,
): void {
  const hk = (kw + 1) >> 1;
  const NP = C * kh * hk;
  const P = OH * OW;
  const rowBytes = <usize>NP << 2;
  for (let oh = 0; oh < OH; oh++) {
    for (let ow = 0; ow < OW; ow += 4) {
      let d = pv;
      for (let c = 0; c < C; c++) {
        for (let i = 0; i < kh; i++) {
          const row = xq + (<usize>((c * H + oh * sh + i * dh) * W + ow) << 1);
          for (let jp = 0; jp < hk; jp++) {
            const v = v128.load(row + (<usize>jp << 2));
            v128.store(d, i8x16.shuffle(v, v, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9));
            d += 16;
          }
        }
      }
      const count = OW - ow;
      const px = <usize>(oh * OW + ow) << 2;
      if (NP == 6) {
        // one channel, 3×3 (or 3×2, 2×3 with C = 1 … any six pairs): the block's six pair vectors
        // stay in registers across the output channels (the general loop reloads them per channel)
        const p0 = v128.load(pv), p1 = v128.load(pv, 16), p2 = v128.load(pv, 32);
        const p3 = v128.load(pv, 48), p4 = v128.load(pv, 64), p5 = v128.load(pv, 80);
        for (let o = 0; o < O; o++) {
          const wr = wp + <usize>o * rowBytes;
          let acc = i32x4.dot_i16x8_s(p0, v128.load32_splat(wr));
          acc = i32x4.add(acc, i32x4.dot_i16x8_s(p1, v128.load32_splat(wr, 4)));
          acc = i32x4.add(acc, i32x4.dot_i16x8_s(p2, v128.load32_splat(wr, 8)));
          acc = i32x4.add(acc, i32x4.dot_i16x8_s(p3, v128.load32_splat(wr, 12)));
          acc = i32x4.add(acc, i32x4.dot_i16x8_s(p4, v128.load32_splat(wr, 16)));
          acc = i32x4.add(acc, i32x4.dot_i16x8_s(p5, v128.load32_splat(wr, 20)));
          const O4 = <usize>o << 2;
          const y = raw ? acc : epilogue(acc, i32x4.splat(load<i32>(pzs + O4)), f32x4.splat(load<f32>(ps + O4)), f32x4.splat(load<f32>(pb + O4)), relu);
          storeLanes(on + ((<usize>o * <usize>P) << 2) + px, y, count);
        }
        continue;
      }
      for (let o = 0; o < O; o++) {
        const wr = wp + <usize>o * rowBytes;
        let acc = i32x4.splat(0);
        for (let t: usize = 0; t < <usize>NP; t++) {
          acc = i32x4.add(acc, i32x4.dot_i16x8_s(v128.load(pv + (t << 4)), v128.load32_splat(wr + (t << 2))));
        }
        const O4 = <usize>o << 2;
        const y = raw ? acc : epilogue(acc, i32x4.splat(load<i32>(pzs + O4)), f32x4.splat(load<f32>(ps + O4)), f32x4.splat(load<f32>(pb + O4)), relu);
        storeLanes(on + ((<usize>o * <usize>P) << 2) + px, y, count);
      }
    }
  }
}

/** Quantises rows [i0, i1) of x (float rows of k) into xq (byte rows of kp). */
export function qQuantizeRows(x: usize, k: i32, kp: i32, i0: i32, i1: i32, inv: f32, zp: i32, xq: usize): void {
  for (let i = i0; i < i1; i++) quantizeSpan(x + ((<usize>i * <usize>k) << 2), k, kp, inv, zp, xq + <usize>i * <usize>kp);
}

/** min and max of n floats at x, written as two floats at out (NaNs skipped). */
export function qMinMax(x: usize, n: i32, out: usize): void {
  let lo = f32x4.splat(Infinity), hi = f32x4.splat(-Infinity);
  let p = 0;
  for (; p + 4 <= n; p += 4) {
    const v = v128.load(x + (<usize>p << 2));
    lo = f32x4.pmin(lo, v); // v < lo ? v : lo: a NaN is skipped
    hi = f32x4.pmax(hi, v);
  }
  let l = min(min(f32x4.extract_lane(lo, 0), f32x4.extract_lane(lo, 1)), min(f32x4.extract_lane(lo, 2), f32x4.extract_lane(lo, 3)));
  let h = max(max(f32x4.extract_lane(hi, 0), f32x4.extract_lane(hi, 1)), max(f32x4.extract_lane(hi, 2), f32x4.extract_lane(hi, 3)));
  for (; p < n; p++) {
    const v = load<f32>(x + (<usize>p << 2));
    if (v < l) l = v;
    if (v > h) h = v;
  }
  store<f32>(out, l);
  store<f32>(out, h, 4);
}

@inline function epilogue(acc: v128, zs: v128, s: v128, b: v128, relu: i32): v128 {
  const y = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(acc, zs)), s), b);
  return relu ? f32x4.max(y, f32x4.splat(0)) : y;
}

/** Stores the first `count` (1..4) lanes of v at p. */
@inline function storeLanes(p: usize, v: v128, count: i32): void {
  if (count >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/**
 * A Linear's rows [i0, i1): quantise them (x: float rows of k → xq: rows of kp codes, i16 each),
 * then out[i][j] (float rows of n) from xq · wᵀ (w: np rows of kp int8 values widened to i16, np
 * a multiple of 4).
 */
export function qLinearRows(x: usize, k: i32, kp: i32, i0: i32, i1: i32, inv: f32, zp: i32, xq: usize, w: usize, n: i32, np: i32, params: usize, out: usize, relu: i32): void {
  for (let r = i0; r < i1; r++) quantizeSpan16(x + ((<usize>r * <usize>k) << 2), k, kp, inv, zp, xq + ((<usize>r * <usize>kp) << 1));
  const K = <usize>kp << 1;
  const pzs = params, ps = params + (<usize>np << 2), pb = params + (<usize>np << 3);
  let i = i0;
  for (; i + 2 <= i1; i += 2) {
    const a0 = xq + <usize>i * K;
    const a1 = a0 + K;
    const c0 = out + ((<usize>i * <usize>n) << 2);
    const c1 = c0 + (<usize>n << 2);
    for (let j = 0; j < np; j += 4) {
      const w0 = w + <usize>j * K;
      const w1 = w0 + K;
      const w2 = w1 + K;
      const w3 = w2 + K;
      let s00 = i32x4.splat(0), s01 = i32x4.splat(0), s02 = i32x4.splat(0), s03 = i32x4.splat(0);
      let s10 = i32x4.splat(0), s11 = i32x4.splat(0), s12 = i32x4.splat(0), s13 = i32x4.splat(0);
      for (let p: usize = 0; p < K; p += 16) {
        const x0 = v128.load(a0 + p);
        const x1 = v128.load(a1 + p);
        const y0 = v128.load(w0 + p);
        const y1 = v128.load(w1 + p);
        const y2 = v128.load(w2 + p);
        const y3 = v128.load(w3 + p);
        s00 = i32x4.add(s00, i32x4.dot_i16x8_s(x0, y0));
        s01 = i32x4.add(s01, i32x4.dot_i16x8_s(x0, y1));
        s02 = i32x4.add(s02, i32x4.dot_i16x8_s(x0, y2));
        s03 = i32x4.add(s03, i32x4.dot_i16x8_s(x0, y3));
        s10 = i32x4.add(s10, i32x4.dot_i16x8_s(x1, y0));
        s11 = i32x4.add(s11, i32x4.dot_i16x8_s(x1, y1));
        s12 = i32x4.add(s12, i32x4.dot_i16x8_s(x1, y2));
        s13 = i32x4.add(s13, i32x4.dot_i16x8_s(x1, y3));
      }
      const J = <usize>j << 2;
      const zs = v128.load(pzs + J), s = v128.load(ps + J), b = v128.load(pb + J);
      storeLanes(c0 + J, epilogue(hsum4(s00, s01, s02, s03), zs, s, b, relu), n - j);
      storeLanes(c1 + J, epilogue(hsum4(s10, s11, s12, s13), zs, s, b, relu), n - j);
    }
  }
  if (i < i1) {
    // one row left (batch 1, or an odd share): a 1×8 block, then 1×4
    const a0 = xq + <usize>i * K;
    const c0 = out + ((<usize>i * <usize>n) << 2);
    let j = 0;
    for (; j + 8 <= np; j += 8) {
      const w0 = w + <usize>j * K;
      let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
      let s4 = i32x4.splat(0), s5 = i32x4.splat(0), s6 = i32x4.splat(0), s7 = i32x4.splat(0);
      for (let p: usize = 0; p < K; p += 16) {
        const x0 = v128.load(a0 + p);
        const q = w0 + p;
        s0 = i32x4.add(s0, i32x4.dot_i16x8_s(x0, v128.load(q)));
        s1 = i32x4.add(s1, i32x4.dot_i16x8_s(x0, v128.load(q + K)));
        s2 = i32x4.add(s2, i32x4.dot_i16x8_s(x0, v128.load(q + 2 * K)));
        s3 = i32x4.add(s3, i32x4.dot_i16x8_s(x0, v128.load(q + 3 * K)));
        s4 = i32x4.add(s4, i32x4.dot_i16x8_s(x0, v128.load(q + 4 * K)));
        s5 = i32x4.add(s5, i32x4.dot_i16x8_s(x0, v128.load(q + 5 * K)));
        s6 = i32x4.add(s6, i32x4.dot_i16x8_s(x0, v128.load(q + 6 * K)));
        s7 = i32x4.add(s7, i32x4.dot_i16x8_s(x0, v128.load(q + 7 * K)));
      }
      const J = <usize>j << 2;
      storeLanes(c0 + J, epilogue(hsum4(s0, s1, s2, s3), v128.load(pzs + J), v128.load(ps + J), v128.load(pb + J), relu), n - j);
      storeLanes(c0 + J + 16, epilogue(hsum4(s4, s5, s6, s7), v128.load(pzs + J + 16), v128.load(ps + J + 16), v128.load(pb + J + 16), relu), n - j - 4);
    }
    for (; j < np; j += 4) {
      const w0 = w + <usize>j * K;
      let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
      for (let p: usize = 0; p < K; p += 16) {
        const x0 = v128.load(a0 + p);
        const q = w0 + p;
        s0 = i32x4.add(s0, i32x4.dot_i16x8_s(x0, v128.load(q)));
        s1 = i32x4.add(s1, i32x4.dot_i16x8_s(x0, v128.load(q + K)));
        s2 = i32x4.add(s2, i32x4.dot_i16x8_s(x0, v128.load(q + 2 * K)));
        s3 = i32x4.add(s3, i32x4.dot_i16x8_s(x0, v128.load(q + 3 * K)));
      }
      const J = <usize>j << 2;
      storeLanes(c0 + J, epilogue(hsum4(s0, s1, s2, s3), v128.load(pzs + J), v128.load(ps + J), v128.load(pb + J), relu), n - j);
    }
  }
}

/** The epilogue of one sum (as `epilogue` computes each lane). */
@inline function epilogue1(acc: i32, zs: i32, s: f32, b: f32, relu: i32): f32 {
  const y = <f32>(acc - zs) * s + b;
  return relu ? max<f32>(y, 0) : y;
}

/** uint8 codes of four floats, as quantizeSpan16 rounds and saturates them, as i32 lanes. */
@inline function codes4(y: v128, vinv: v128, vz: v128): v128 {
  const q = i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.nearest(f32x4.mul(y, vinv)), vz));
  return i32x4.min_s(i32x4.max_s(q, i32x4.splat(0)), i32x4.splat(255));
}

/**
 * The output stage of a sample whose conv left its raw sums in `acc` (O planes of OH·OW i32): the
 * max over each pool window (qh×qw, stride rh×rw; 1×1/1 for none) taken on the sums, then the
 * epilogue (+ ReLU) on the pooled sums only. Exact: the epilogue is non-decreasing in the sum
 * (s_x·s_w > 0; f32 rounding, the ReLU and saturation are monotone), so it commutes with max.
 * Output: float planes at `out` (CHW), or with `cinv` ≠ 0 the next layer's uint8 codes as i16,
 * channel-last (out[pixel·O + o]), quantised as quantizeHWC16 would quantise the floats.
 */
function poolOut(
  acc: usize, O: i32, OH: i32, OW: i32, qh: i32, qw: i32, rh: i32, rw: i32,
  pzs: usize, ps: usize, pb: usize, relu: i32, out: usize, cinv: f32, czp: i32,
): void {
  const PH = (OH - qh) / rh + 1, PW = (OW - qw) / rw + 1;
  const P = OH * OW;
  const codes = cinv != 0;
  const vinv = f32x4.splat(cinv), vz = f32x4.splat(<f32>czp);
  const cstep = <usize>O << 1;
  const two = qh == 2 && qw == 2 && rh == 2 && rw == 2;
  const one = qh == 1 && qw == 1 && rh == 1 && rw == 1;
  for (let o = 0; o < O; o++) {
    const plane = acc + ((<usize>o * <usize>P) << 2);
    const O4 = <usize>o << 2;
    const zs = load<i32>(pzs + O4), s = load<f32>(ps + O4), b = load<f32>(pb + O4);
    const vzs = i32x4.splat(zs), vs = f32x4.splat(s), vb = f32x4.splat(b);
    let d = codes ? out + (<usize>o << 1) : out + ((<usize>o * <usize>(PH * PW)) << 2);
    for (let py = 0; py < PH; py++) {
      let px = 0;
      if (two || one) {
        // four outputs at a time: 2×2/2 takes the vertical max of two rows, then of lane pairs
        const top = plane + (<usize>(py * rh * OW) << 2);
        const bot = top + (<usize>OW << 2);
        // the last group of a row reads past it (into the next row, or the 64 spare bytes after
        // the last plane) and keeps only its `count` lanes
        for (; px < PW; px += 4) {
          const count = min(4, PW - px);
          let m: v128;
          if (two) {
            const o8 = <usize>(2 * px) << 2;
            const a = i32x4.max_s(v128.load(top + o8), v128.load(bot + o8));
            const c = i32x4.max_s(v128.load(top + o8, 16), v128.load(bot + o8, 16));
            m = i32x4.max_s(i32x4.shuffle(a, c, 0, 2, 4, 6), i32x4.shuffle(a, c, 1, 3, 5, 7));
          } else {
            m = v128.load(top + (<usize>px << 2));
          }
          const y = epilogue(m, vzs, vs, vb, relu);
          if (codes) {
            const q = codes4(y, vinv, vz);
            store<u16>(d, <u16>i32x4.extract_lane(q, 0));
            if (count > 1) store<u16>(d + cstep, <u16>i32x4.extract_lane(q, 1));
            if (count > 2) store<u16>(d + 2 * cstep, <u16>i32x4.extract_lane(q, 2));
            if (count > 3) store<u16>(d + 3 * cstep, <u16>i32x4.extract_lane(q, 3));
            d += <usize>count * cstep;
          } else {
            storeLanes(d, y, count);
            d += <usize>count << 2;
          }
        }
      }
      for (; px < PW; px++) {
        const corner = plane + (<usize>(py * rh * OW + px * rw) << 2);
        let m = load<i32>(corner);
        for (let i = 0; i < qh; i++) {
          for (let j = 0; j < qw; j++) m = max<i32>(m, load<i32>(corner + (<usize>(i * OW + j) << 2)));
        }
        const y = epilogue1(m, zs, s, b, relu);
        if (codes) {
          store<u16>(d, <u16>q1(y, cinv, czp));
          d += cstep;
        } else {
          store<f32>(d, y);
          d += 4;
        }
      }
    }
  }
}

/**
 * A Conv2d (groups 1) on samples [n0, n1) of x (float NCHW): per sample, quantise it into xq
 * (C·H·W bytes), unfold it into cols (one row of kp bytes per output pixel, rows padded to a
 * multiple of 4; padding taps hold zp, the uint8 code of 0), and write out[n][o][pixel] from
 * w (op rows of kp int8, op a multiple of 2) · colsᵀ, two channels × four pixels per block.
 * With a fused max pool or a codes output, the sample's raw sums go to tmp (O·OH·OW i32) and
 * poolOut writes out[n]. pad = ph | pw << 16, dil = dh | dw << 16. Flags: bit 0 ReLU, bits 1-16
 * the pool, bit 17 the direct path (w: rows in (i, j, c) order widened to i16, xq: 2·C·H·W
 * bytes), bit 18 the pair path (w: pairConv's words, xq: 2·(C·H·W + 8) bytes); either replaces
 * the unfold and its GEMM; bit 19: write the next layer's codes (cinvBits: its 1/s as f32 bits,
 * czp its zero point; out: i16 per value, channel-last per sample); bit 20 (direct path only): x
 * holds this layer's codes already (i16, channel-last, C·H·W per sample), nothing to quantise.
 */
export function qConvSamples(
  x: usize, n0: i32, n1: i32, inv: f32, zp: i32,
  C: i32, H: i32, W: i32, kh: i32, kw: i32, sh: i32, sw: i32, pad: i32, dil: i32,
  OH: i32, OW: i32, kp: i32, xq: usize, cols: usize, w: usize, O: i32, params: usize, out: usize, flags: i32, tmp: usize,
  cinvBits: i32, czp: i32,
): void {
  const ph = pad & 0xffff, pw = pad >>> 16, dh = dil & 0xffff, dw = dil >>> 16;
  const relu = flags & 1;
  // a fused MaxPool2d (no padding, dilation 1): kernel qh×qw, stride rh×rw, 4 bits each; qh 0: none
  const qh = (flags >> 1) & 15, qw = (flags >> 5) & 15, rh = (flags >> 9) & 15, rw = (flags >> 13) & 15;
  const codesOut = (flags >> 19) & 1, codesIn = (flags >> 20) & 1;
  const staged = qh != 0 || codesOut != 0;
  const PH = qh ? (OH - qh) / rh + 1 : OH, PW = qh ? (OW - qw) / rw + 1 : OW;
  const cinv = codesOut ? reinterpret<f32>(cinvBits) : <f32>0;
  const chw = C * H * W;
  const P = OH * OW;
  const Pp = (P + 3) & ~3;
  const op = (O + 1) & ~1;
  const K = <usize>kp;
  const kk = C * kh * kw;
  const pzs = params, ps = params + (<usize>op << 2), pb = params + (<usize>op << 3);
  const z = <u8>zp;
  const direct = (flags >> 17) & 1;
  const pairs = (flags >> 18) & 1;
  const outSample = <usize>O * <usize>(PH * PW);
  for (let n = n0; n < n1; n++) {
    const on = staged ? tmp : out + ((<usize>n * <usize>O * <usize>P) << 2);
    if (pairs) {
      quantizeSpan16(x + ((<usize>n * <usize>chw) << 2), chw, chw + 8, inv, zp, xq);
      pairConv(xq, C, H, W, kh, kw, sh, dh, OH, OW, w, O, pzs, ps, pb, on, relu, cols, staged ? 1 : 0);
    } else if (direct) {
      let src = xq;
      if (codesIn) src = x + ((<usize>n * <usize>chw) << 1);
      else quantizeHWC16(x + ((<usize>n * <usize>chw) << 2), C, H * W, inv, zp, xq);
      directConv(src, C, W, kh, kw, sh, sw, dh, OH, OW, w, O, op, pzs, ps, pb, on, relu, cols, staged ? 1 : 0);
    } else {
    quantizeSpan(x + ((<usize>n * <usize>chw) << 2), chw, chw, inv, zp, xq);
    // unfold: one output pixel's taps per row, (c, i, j) order as the weights are laid out
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let d = cols + <usize>(oh * OW + ow) * K;
        const y0 = oh * sh - ph, x0 = ow * sw - pw;
        const inside = dw == 1 && x0 >= 0 && x0 + kw <= W;
        for (let c = 0; c < C; c++) {
          const plane = xq + <usize>(c * H * W);
          for (let i = 0; i < kh; i++) {
            const y = y0 + i * dh;
            if (y < 0 || y >= H) {
              for (let j = 0; j < kw; j++) store<u8>(d + <usize>j, z);
            } else if (inside && kw <= 8) {
              // the whole row of taps is in the image: 8 bytes at once; the bytes past kw are
              // overwritten by the next taps or the row's padding (cols has 8 spare bytes at its end)
              store<u64>(d, load<u64>(plane + <usize>(y * W + x0)));
            } else {
              const row = plane + <usize>(y * W);
              for (let j = 0; j < kw; j++) {
                const xx = x0 + j * dw;
                store<u8>(d + <usize>j, xx >= 0 && xx < W ? load<u8>(row + <usize>xx) : z);
              }
            }
            d += <usize>kw;
          }
        }
        for (let t = kk; t < kp; t++) { store<u8>(d, z); d++; }
      }
    }
    for (let p = P; p < Pp; p++) memory.fill(cols + <usize>p * K, z, K);
    for (let o = 0; o < op; o += 2) {
      const w0 = w + <usize>o * K;
      const w1 = w0 + K;
      const O4 = <usize>o << 2;
      const zs0 = i32x4.splat(load<i32>(pzs + O4)), s0 = f32x4.splat(load<f32>(ps + O4)), b0 = f32x4.splat(load<f32>(pb + O4));
      const zs1 = i32x4.splat(load<i32>(pzs + O4, 4)), s1 = f32x4.splat(load<f32>(ps + O4, 4)), b1 = f32x4.splat(load<f32>(pb + O4, 4));
      const c0 = on + ((<usize>o * <usize>P) << 2);
      const c1 = c0 + (<usize>P << 2);
      const second = o + 1 < O;
      for (let p = 0; p < Pp; p += 4) {
        const r0 = cols + <usize>p * K;
        const r1 = r0 + K;
        const r2 = r1 + K;
        const r3 = r2 + K;
        let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a02 = i32x4.splat(0), a03 = i32x4.splat(0);
        let a10 = i32x4.splat(0), a11 = i32x4.splat(0), a12 = i32x4.splat(0), a13 = i32x4.splat(0);
        for (let t: usize = 0; t < K; t += 8) {
          const u0 = v128.load8x8_s(w0 + t);
          const u1 = v128.load8x8_s(w1 + t);
          const v0 = v128.load8x8_u(r0 + t);
          const v1 = v128.load8x8_u(r1 + t);
          const v2 = v128.load8x8_u(r2 + t);
          const v3 = v128.load8x8_u(r3 + t);
          a00 = i32x4.add(a00, i32x4.dot_i16x8_s(u0, v0));
          a01 = i32x4.add(a01, i32x4.dot_i16x8_s(u0, v1));
          a02 = i32x4.add(a02, i32x4.dot_i16x8_s(u0, v2));
          a03 = i32x4.add(a03, i32x4.dot_i16x8_s(u0, v3));
          a10 = i32x4.add(a10, i32x4.dot_i16x8_s(u1, v0));
          a11 = i32x4.add(a11, i32x4.dot_i16x8_s(u1, v1));
          a12 = i32x4.add(a12, i32x4.dot_i16x8_s(u1, v2));
          a13 = i32x4.add(a13, i32x4.dot_i16x8_s(u1, v3));
        }
        const Q = <usize>p << 2;
        const y0 = hsum4(a00, a01, a02, a03), y1 = hsum4(a10, a11, a12, a13);
        storeLanes(c0 + Q, staged ? y0 : epilogue(y0, zs0, s0, b0, relu), P - p);
        if (second) storeLanes(c1 + Q, staged ? y1 : epilogue(y1, zs1, s1, b1, relu), P - p);
      }
    }
    }
    if (staged) {
      const dst = out + (codesOut ? (outSample * <usize>n) << 1 : (outSample * <usize>n) << 2);
      if (qh) poolOut(tmp, O, OH, OW, qh, qw, rh, rw, pzs, ps, pb, relu, dst, cinv, czp);
      else poolOut(tmp, O, OH, OW, 1, 1, 1, 1, pzs, ps, pb, relu, dst, cinv, czp);
    }
  }
}
