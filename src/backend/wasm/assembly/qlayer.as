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

/** Stores y0 (columns j..j+3) and y1 (j+4..j+7) of a float row at c, the first `count` of them. */
@inline function storeRow8(c: usize, y0: v128, y1: v128, count: i32): void {
  storeLanes(c, y0, count);
  if (count > 4) storeLanes(c + 16, y1, count - 4);
}

/**
 * Row r's len floats → uint8 codes (as quantizeSpan16, up to lenp with zp) in the packed layout
 * qLinearRows reads: rows in blocks of 4, each block kp/2 steps of 16 bytes, step t holding the
 * code pair (2t, 2t+1) of its four rows as i16 pairs (row r at 4·(r mod 4)). `dst`: the row's
 * first pair.
 */
function quantizeRowPacked(src: usize, len: i32, lenp: i32, inv: f32, zp: i32, dst: usize, qmax: i32): void {
  const vinv = f32x4.splat(inv);
  const vz = f32x4.splat(<f32>zp);
  const lo = i16x8.splat(0), hi = i16x8.splat(<i16>qmax);
  let p = 0;
  let d = dst;
  for (; p + 8 <= len; p += 8) {
    const s = src + (<usize>p << 2);
    const a = i16x8.min_s(i16x8.max_s(i16x8.narrow_i32x4_s(q4(s, vinv, vz), q4(s + 16, vinv, vz)), lo), hi);
    v128.store32_lane(d, a, 0);
    v128.store32_lane(d, a, 1, 16);
    v128.store32_lane(d, a, 2, 32);
    v128.store32_lane(d, a, 3, 48);
    d += 64;
  }
  for (; p < lenp; p++) {
    const c = p < len ? <u16>min<i32>(q1(load<f32>(src + (<usize>p << 2)), inv, zp), qmax) : <u16>zp;
    store<u16>(dst + ((<usize>p >> 1) << 4) + ((<usize>p & 1) << 1), c);
  }
}

/**
 * A Linear's rows [i0, i1) (i0 a multiple of 4): out[i][j] from the rows' codes · wᵀ, the codes
 * made here from x (float rows of k) into xq, or given (flag bit 2), in quantizeRowPacked's
 * layout (ceil(rows/4) blocks of kp·8 bytes; xq and x are the whole batch's, block i0/4 first).
 * w: the weights in panels of 8 output columns (np a multiple of 8), each kp/2 steps of 32 bytes:
 * for inputs (2t, 2t+1), columns c..c+3's two weights as i16 pairs, then columns c+4..c+7's
 * (qlayer.ts packQPanels). The broadcast form: one row's code pair (one i32) splat against four
 * columns' weight pairs gives four columns' partial sums, so a 4-row × 8-column block takes 4
 * splat loads and 2 vector loads per 8 dot products, every address a constant offset from two
 * pointers, no horizontal sums. A panel (kp·16 bytes: 12.5 KB for 784 inputs) stays in L1 while
 * the share's rows run through it.
 * flags: bit 0 ReLU; bit 1 write the next Linear's codes instead of floats (as its
 * quantizeRowPacked would make them from these floats: 1/s = cinvBits as f32 bits, zero point
 * czp; out: its packed layout, kp' = np, the padding columns hold czp, the code of 0); bit 2 x
 * holds this layer's codes already (a previous layer's codes output), nothing to quantise; bit 3
 * the byte kernel for 7-bit codes (qLinearRows7); bit 4 (this kernel) codes saturate at 127, not
 * 255 (7-bit codes where the build has no relaxed SIMD: the same sums as the byte kernel's).
 */
export function qLinearRows(
  x: usize, k: i32, kp: i32, i0: i32, i1: i32, inv: f32, zp: i32, xq: usize, w: usize, n: i32, np: i32,
  params: usize, out: usize, flags: i32, cinvBits: i32, czp: i32,
): void {
  if (flags & 8) {
    qLinearRows7(x, k, kp, i0, i1, inv, zp, xq, w, n, np, params, out, flags, cinvBits, czp);
    return;
  }
  const relu = flags & 1, codesOut = (flags >> 1) & 1, codesIn = (flags >> 2) & 1;
  const qmax = flags & 16 ? 127 : 255;
  const vmax = i32x4.splat(qmax);
  const B = <usize>kp << 3; // bytes per block of 4 rows
  let a = xq;
  if (codesIn) {
    a = x;
  } else {
    for (let r = i0; r < i1; r++) {
      quantizeRowPacked(x + ((<usize>r * <usize>k) << 2), k, kp, inv, zp, xq + <usize>(r >> 2) * B + (<usize>(r & 3) << 2), qmax);
    }
    // rows past i1 in its last block: codes of 0 (their sums are never stored)
    for (let r = i1; r & 3; r++) {
      const d = xq + <usize>(r >> 2) * B + (<usize>(r & 3) << 2);
      for (let t: usize = 0; t < B; t += 16) store<u32>(d + t, <u32>zp * 0x10001);
    }
  }
  const pzs = params, ps = params + (<usize>np << 2), pb = params + (<usize>np << 3);
  const vinv = f32x4.splat(reinterpret<f32>(cinvBits)), vz = f32x4.splat(<f32>czp);
  const P = <usize>kp << 4;
  const Bout = <usize>np << 3; // the codes output's block bytes
  for (let j = 0; j < np; j += 8) {
    const panel = w + <usize>(j >> 3) * P;
    const J = <usize>j << 2;
    for (let i = i0; i < i1; i += 4) {
      const rows = min(4, i1 - i);
      let u = a + <usize>(i >> 2) * B;
      let q = panel;
      const end = q + P;
      if (rows == 1) {
        // one row (batch 1): two accumulators per half so that consecutive steps do not wait on each other
        let s0 = i32x4.splat(0), s1 = i32x4.splat(0), t0 = i32x4.splat(0), t1 = i32x4.splat(0);
        for (; q < end; q += 64) {
          const v = v128.load32_splat(u), z = v128.load32_splat(u, 16);
          s0 = i32x4.add(s0, i32x4.dot_i16x8_s(v, v128.load(q)));
          s1 = i32x4.add(s1, i32x4.dot_i16x8_s(v, v128.load(q, 16)));
          t0 = i32x4.add(t0, i32x4.dot_i16x8_s(z, v128.load(q, 32)));
          t1 = i32x4.add(t1, i32x4.dot_i16x8_s(z, v128.load(q, 48)));
          u += 32;
        }
        rowOut8(out, i, j, np, n, i32x4.add(s0, t0), i32x4.add(s1, t1), J, pzs, ps, pb, relu, codesOut, vinv, vz, Bout, vmax);
        continue;
      }
      let s00 = i32x4.splat(0), s01 = i32x4.splat(0), s10 = i32x4.splat(0), s11 = i32x4.splat(0);
      let s20 = i32x4.splat(0), s21 = i32x4.splat(0), s30 = i32x4.splat(0), s31 = i32x4.splat(0);
      for (; q < end; q += 32) {
        const w0 = v128.load(q), w1 = v128.load(q, 16);
        let v = v128.load32_splat(u);
        s00 = i32x4.add(s00, i32x4.dot_i16x8_s(v, w0));
        s01 = i32x4.add(s01, i32x4.dot_i16x8_s(v, w1));
        v = v128.load32_splat(u, 4);
        s10 = i32x4.add(s10, i32x4.dot_i16x8_s(v, w0));
        s11 = i32x4.add(s11, i32x4.dot_i16x8_s(v, w1));
        v = v128.load32_splat(u, 8);
        s20 = i32x4.add(s20, i32x4.dot_i16x8_s(v, w0));
        s21 = i32x4.add(s21, i32x4.dot_i16x8_s(v, w1));
        v = v128.load32_splat(u, 12);
        s30 = i32x4.add(s30, i32x4.dot_i16x8_s(v, w0));
        s31 = i32x4.add(s31, i32x4.dot_i16x8_s(v, w1));
        u += 16;
      }
      rowOut8(out, i, j, np, n, s00, s01, J, pzs, ps, pb, relu, codesOut, vinv, vz, Bout, vmax);
      if (rows > 1) rowOut8(out, i + 1, j, np, n, s10, s11, J, pzs, ps, pb, relu, codesOut, vinv, vz, Bout, vmax);
      if (rows > 2) rowOut8(out, i + 2, j, np, n, s20, s21, J, pzs, ps, pb, relu, codesOut, vinv, vz, Bout, vmax);
      if (rows > 3) rowOut8(out, i + 3, j, np, n, s30, s31, J, pzs, ps, pb, relu, codesOut, vinv, vz, Bout, vmax);
    }
  }
}

/**
 * Σ over each lane's 4 bytes of a·b (a int8 weights, b 7-bit codes, 0..127) added to c. With
 * relaxed SIMD: i16x8.relaxed_dot_i8x16_i7x16_s (x86: pmaddubsw) and a pairwise widening add, exact
 * because the codes are below 128, so the pairwise i16 sums the instruction may saturate stay under
 * 2·128·127 < 2^15. Not i32x4.relaxed_dot_i8x16_i7x16_add_s, its one-instruction form: Node 20's
 * V8 (11.3) returns twice the sum for it (checked: [-1,2,-3,4]·[1,2,3,4] gives 20). The plain
 * build computes the same sums from widened products (codes below 128 read the same as signed
 * bytes).
 */
@inline function dot4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.add(c, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(a, b)));
  const lo = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(a, b));
  const hi = i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(a, b));
  return i32x4.add(c, i32x4.add(i32x4.shuffle(lo, hi, 0, 2, 4, 6), i32x4.shuffle(lo, hi, 1, 3, 5, 7)));
}

/** 7-bit codes (0..127) of four floats, as quantizeRowPacked7 rounds and saturates them, as i32 lanes. */
@inline function codes4r(y: v128, vinv: v128, vz: v128): v128 {
  const q = i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.nearest(f32x4.mul(y, vinv)), vz));
  return i32x4.min_s(i32x4.max_s(q, i32x4.splat(0)), i32x4.splat(127));
}

/**
 * Row r's len floats → 7-bit codes (reduce range: 0..127, as quantizeSpan rounds them, saturated
 * at 127; zp up to lenp) in qLinearRows7's layout: rows in blocks of 4, each block kp/4 steps of
 * 16 bytes, step t holding codes 4t..4t+3 of its four rows (row r at byte 4·(r mod 4)). `dst`: the
 * row's first code.
 */
function quantizeRowPacked7(src: usize, len: i32, lenp: i32, inv: f32, zp: i32, dst: usize): void {
  const vinv = f32x4.splat(inv);
  const vz = f32x4.splat(<f32>zp);
  let p = 0;
  let d = dst;
  for (; p + 8 <= len; p += 8) {
    const s = src + (<usize>p << 2);
    const c = i16x8.narrow_i32x4_s(codes4r(v128.load(s), vinv, vz), codes4r(v128.load(s, 16), vinv, vz));
    const b = i8x16.narrow_i16x8_u(c, c);
    v128.store32_lane(d, b, 0);
    v128.store32_lane(d, b, 1, 16);
    d += 32;
  }
  for (; p < lenp; p++) {
    let c = <u8>zp;
    if (p < len) {
      const f = nearest<f32>(load<f32>(src + (<usize>p << 2)) * inv) + <f32>zp;
      c = !(f > 0) ? 0 : f >= 127 ? 127 : <u8><i32>f;
    }
    store<u8>(dst + ((<usize>p >> 2) << 4) + (<usize>p & 3), c);
  }
}

/**
 * qLinearRows for a Linear whose input is quantised to 7 bits (reduce range, as fbgemm does on
 * x86 for the same reason): codes are bytes (quantizeRowPacked7's layout; kp a multiple of 8) and
 * the weights int8 in panels of 8 output columns, each kp/4 steps of 32 bytes: for inputs 4t..4t+3,
 * columns c..c+3's four weights, then columns c+4..c+7's (qlayer.ts packQPanels7). One row's 4
 * codes (one i32) splat against a step's 16 weight bytes give four columns' partial sums in one
 * dot4: twice the products per instruction of the i16 form, half the bytes read. Flags and
 * arguments as qLinearRows (bit 3 set); codes out are the next layer's 7-bit codes in this layout.
 */
function qLinearRows7(
  x: usize, k: i32, kp: i32, i0: i32, i1: i32, inv: f32, zp: i32, xq: usize, w: usize, n: i32, np: i32,
  params: usize, out: usize, flags: i32, cinvBits: i32, czp: i32,
): void {
  const relu = flags & 1, codesOut = (flags >> 1) & 1, codesIn = (flags >> 2) & 1;
  const B = <usize>kp << 2; // bytes per block of 4 rows
  let a = xq;
  if (codesIn) {
    a = x;
  } else {
    for (let r = i0; r < i1; r++) {
      quantizeRowPacked7(x + ((<usize>r * <usize>k) << 2), k, kp, inv, zp, xq + <usize>(r >> 2) * B + (<usize>(r & 3) << 2));
    }
    // rows past i1 in its last block: codes of 0 (their sums are never stored)
    for (let r = i1; r & 3; r++) {
      const d = xq + <usize>(r >> 2) * B + (<usize>(r & 3) << 2);
      for (let t: usize = 0; t < B; t += 16) store<u32>(d + t, <u32>zp * 0x01010101);
    }
  }
  const pzs = params, ps = params + (<usize>np << 2), pb = params + (<usize>np << 3);
  const vinv = f32x4.splat(reinterpret<f32>(cinvBits)), vz = f32x4.splat(<f32>czp);
  const P = <usize>kp << 3; // bytes per panel of 8 columns
  const Bout = <usize>np << 2; // the codes output's block bytes
  for (let j = 0; j < np; j += 8) {
    const panel = w + <usize>(j >> 3) * P;
    const J = <usize>j << 2;
    for (let i = i0; i < i1; i += 4) {
      const rows = min(4, i1 - i);
      let u = a + <usize>(i >> 2) * B;
      let q = panel;
      const end = q + P;
      if (rows == 1) {
        // batch 1: two accumulators per half so that consecutive steps do not wait on each other
        let s0 = i32x4.splat(0), s1 = i32x4.splat(0), t0 = i32x4.splat(0), t1 = i32x4.splat(0);
        for (; q < end; q += 64) {
          const v = v128.load32_splat(u), z = v128.load32_splat(u, 16);
          s0 = dot4(v128.load(q), v, s0);
          s1 = dot4(v128.load(q, 16), v, s1);
          t0 = dot4(v128.load(q, 32), z, t0);
          t1 = dot4(v128.load(q, 48), z, t1);
          u += 32;
        }
        rowOut8r(out, i, j, n, i32x4.add(s0, t0), i32x4.add(s1, t1), J, pzs, ps, pb, relu, codesOut, vinv, vz, Bout);
        continue;
      }
      let s00 = i32x4.splat(0), s01 = i32x4.splat(0), s10 = i32x4.splat(0), s11 = i32x4.splat(0);
      let s20 = i32x4.splat(0), s21 = i32x4.splat(0), s30 = i32x4.splat(0), s31 = i32x4.splat(0);
      for (; q < end; q += 32) {
        const w0 = v128.load(q), w1 = v128.load(q, 16);
        let v = v128.load32_splat(u);
        s00 = dot4(w0, v, s00);
        s01 = dot4(w1, v, s01);
        v = v128.load32_splat(u, 4);
        s10 = dot4(w0, v, s10);
        s11 = dot4(w1, v, s11);
        v = v128.load32_splat(u, 8);
        s20 = dot4(w0, v, s20);
        s21 = dot4(w1, v, s21);
        v = v128.load32_splat(u, 12);
        s30 = dot4(w0, v, s30);
        s31 = dot4(w1, v, s31);
        u += 16;
      }
      rowOut8r(out, i, j, n, s00, s01, J, pzs, ps, pb, relu, codesOut, vinv, vz, Bout);
      if (rows > 1) rowOut8r(out, i + 1, j, n, s10, s11, J, pzs, ps, pb, relu, codesOut, vinv, vz, Bout);
      if (rows > 2) rowOut8r(out, i + 2, j, n, s20, s21, J, pzs, ps, pb, relu, codesOut, vinv, vz, Bout);
      if (rows > 3) rowOut8r(out, i + 3, j, n, s30, s31, J, pzs, ps, pb, relu, codesOut, vinv, vz, Bout);
    }
  }
}

/** rowOut8 for qLinearRows7: floats, or the next layer's 8 codes (7-bit) in its byte layout. */
@inline function rowOut8r(out: usize, i: i32, j: i32, n: i32, s0: v128, s1: v128, J: usize, pzs: usize, ps: usize, pb: usize, relu: i32, codesOut: i32, vinv: v128, vz: v128, Bout: usize): void {
  const y0 = epilogue(s0, v128.load(pzs + J), v128.load(ps + J), v128.load(pb + J), relu);
  const y1 = epilogue(s1, v128.load(pzs + J, 16), v128.load(ps + J, 16), v128.load(pb + J, 16), relu);
  if (codesOut) {
    const c = i16x8.narrow_i32x4_s(codes4r(y0, vinv, vz), codes4r(y1, vinv, vz));
    const b = i8x16.narrow_i16x8_u(c, c);
    const d = out + <usize>(i >> 2) * Bout + (<usize>(i & 3) << 2) + (<usize>j << 2);
    v128.store32_lane(d, b, 0);
    v128.store32_lane(d, b, 1, 16);
  } else {
    storeRow8(out + ((<usize>i * <usize>n) << 2) + J, y0, y1, n - j);
  }
}

/**
 * Row i's 8 sums of the panel at column j (J = 4j) through the epilogue, stored as floats (row
 * of n, the first n − j of them) or as the next layer's 8 codes (its packed layout).
 */
@inline function rowOut8(out: usize, i: i32, j: i32, np: i32, n: i32, s0: v128, s1: v128, J: usize, pzs: usize, ps: usize, pb: usize, relu: i32, codesOut: i32, vinv: v128, vz: v128, Bout: usize, vmax: v128): void {
  const y0 = epilogue(s0, v128.load(pzs + J), v128.load(ps + J), v128.load(pb + J), relu);
  const y1 = epilogue(s1, v128.load(pzs + J, 16), v128.load(ps + J, 16), v128.load(pb + J, 16), relu);
  if (codesOut) {
    const c = i16x8.narrow_i32x4_s(i32x4.min_s(codes4(y0, vinv, vz), vmax), i32x4.min_s(codes4(y1, vinv, vz), vmax));
    const d = out + <usize>(i >> 2) * Bout + (<usize>(i & 3) << 2) + (<usize>j << 3);
    v128.store32_lane(d, c, 0);
    v128.store32_lane(d, c, 1, 16);
    v128.store32_lane(d, c, 2, 32);
    v128.store32_lane(d, c, 3, 48);
  } else {
    storeRow8(out + ((<usize>i * <usize>n) << 2) + J, y0, y1, n - j);
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
