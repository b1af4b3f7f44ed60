// AssemblyScript: im2col and its adjoint col2im for float32, the data movement of convolution
// and pooling. Same layouts as the reference kernels in src/backend/js/index.ts: columns are
// [N, C*kh*kw, OH*OW], or [C*kh*kw, N, OH*OW] with batchInner. Instead of testing every tap against the image border, each output row
// computes the range of ow whose input column is inside the image, so the interior is a plain
// copy (a vector copy when stride and input column stride are 1).

/** First ow with ow*s + off >= 0, and the end of the ow with ow*s + off < w, clamped to [0, ow]. */
@inline function owLo(off: i32, s: i32, OW: i32): i32 {
  return off >= 0 ? 0 : min(OW, (-off + s - 1) / s);
}
@inline function owHi(off: i32, s: i32, W: i32, OW: i32): i32 {
  return W - off <= 0 ? 0 : min(OW, (W - off + s - 1) / s);
}

/** Byte address of row r of batch n in columns [N, R, L] (or [R, N, L] when batchInner). */
@inline function rowStart(base: usize, batchInner: i32, n: i32, r: i32, N: i32, R: i32, L: i32): usize {
  const row = batchInner ? <usize>r * N + n : <usize>n * R + r;
  return base + (row * <usize>L << 2);
}

@inline function fill(p: usize, n: i32, v: f32): void {
  for (let i = 0; i < n; i++) store<f32>(p + (<usize>i << 2), v);
}

/**
 * x: element (n,c,h,w) at x + (n*xn + c*xc + h*xh + w*xw)*4. Writes N*C*kh*kw*OH*OW floats at out
 * for the batch rows [n0, n1).
 */
export function im2col(
  x: usize, xn: i32, xc: i32, xh: i32, xw: i32,
  N: i32, C: i32, H: i32, W: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
  OH: i32, OW: i32, padValue: f32, out: usize, n0: i32, n1: i32, batchInner: i32,
): void {
  // The batch loop is innermost so that the column range [lo, hi) (two divisions) is computed
  // once per tap, not once per image: small images (5×5) have only a few rows per tap.
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const woff = j * dw - pw;
        const lo = owLo(woff, sw, OW), hi = max(lo, owHi(woff, sw, W, OW));
        // Rows fully inside the image, unit strides and at least one vector: the last vector may
        // overlap the one before it (it rewrites the same values), so no scalar tail is needed.
        const whole = lo == 0 && hi == OW && sw == 1 && xw == 1;
        const vec = OW >= 4;
        const L = OH * OW;
        for (let n = n0; n < n1; n++) {
          const base = x + (<usize>(n * xn + c * xc) << 2);
          let p = rowStart(out, batchInner, n, (c * kh + i) * kw + j, N, C * kh * kw, OH * OW);
          for (let oh = 0; oh < OH; oh++) {
            const h = oh * sh - ph + i * dh;
            if (h < 0 || h >= H) { fill(p, OW, padValue); p += <usize>OW << 2; continue; }
            const row = base + (<usize>(h * xh) << 2);
            if (whole) {
              const s = row + (<usize>woff << 2);
              if (vec) {
                for (let ow = 0; ow < OW - 4; ow += 4) v128.store(p + (<usize>ow << 2), v128.load(s + (<usize>ow << 2)));
                v128.store(p + (<usize>(OW - 4) << 2), v128.load(s + (<usize>(OW - 4) << 2)));
              } else if (oh * OW + 4 <= L) {
                // Rows shorter than a vector (5×5 inputs: 3 floats): one vector, whose extra lanes
                // land in this column row's next image row, written after this one.
                v128.store(p, v128.load(s));
              } else {
                for (let ow = 0; ow < OW; ow++) store<f32>(p + (<usize>ow << 2), load<f32>(s + (<usize>ow << 2)));
              }
              p += <usize>OW << 2;
              continue;
            }
            fill(p, lo, padValue);
            if (sw == 1 && xw == 1) {
              // Rows are short (often < 32 floats): an inline vector loop beats memory.copy's call.
              let d = p + (<usize>lo << 2), s = row + (<usize>(lo + woff) << 2);
              let ow = lo;
              for (; ow + 4 <= hi; ow += 4) { v128.store(d, v128.load(s)); d += 16; s += 16; }
              for (; ow < hi; ow++) { store<f32>(d, load<f32>(s)); d += 4; s += 4; }
            } else {
              for (let ow = lo; ow < hi; ow++) {
                store<f32>(p + (<usize>ow << 2), load<f32>(row + (<usize>((ow * sw + woff) * xw) << 2)));
              }
            }
            fill(p + (<usize>hi << 2), OW - hi, padValue);
            p += <usize>OW << 2;
          }
        }
      }
    }
  }
}

/**
 * Adjoint of im2col: cols (contiguous, either layout) summed into out, a zeroed
 * contiguous [N,C,H,W], for the batch rows [n0, n1).
 */
export function col2im(
  cols: usize, N: i32, C: i32, H: i32, W: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
  OH: i32, OW: i32, out: usize, n0: i32, n1: i32, batchInner: i32,
): void {
  // Batch innermost, as in im2col; each image still receives its taps in (i, j, oh) order, so
  // the sums are the same whatever the loop order or the split over threads.
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const woff = j * dw - pw;
        const lo = owLo(woff, sw, OW), hi = max(lo, owHi(woff, sw, W, OW));
        for (let n = n0; n < n1; n++) {
          const base = out + (<usize>(n * C + c) * H * W << 2);
          let p = rowStart(cols, batchInner, n, (c * kh + i) * kw + j, N, C * kh * kw, OH * OW);
          for (let oh = 0; oh < OH; oh++) {
            const h = oh * sh - ph + i * dh;
            if (h >= 0 && h < H) {
              const row = base + (<usize>(h * W) << 2);
              if (sw == 1) {
                let d = row + (<usize>(lo + woff) << 2);
                let s = p + (<usize>lo << 2);
                let ow = lo;
                for (; ow + 4 <= hi; ow += 4) {
                  v128.store(d, f32x4.add(v128.load(d), v128.load(s)));
                  d += 16; s += 16;
                }
                for (; ow < hi; ow++) {
                  store<f32>(d, load<f32>(d) + load<f32>(s));
                  d += 4; s += 4;
                }
              } else {
                for (let ow = lo; ow < hi; ow++) {
                  const d = row + (<usize>(ow * sw + woff) << 2);
                  store<f32>(d, load<f32>(d) + load<f32>(p + (<usize>ow << 2)));
                }
              }
            }
            p += <usize>OW << 2;
          }
        }
      }
    }
  }
}

/** Where the compiler's static data ends: the loader places its buffers above this. */
export function heapBase(): usize {
  return __heap_base;
}
