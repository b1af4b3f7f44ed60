// AssemblyScript: channels-last columns for the fused convolutions (src/backend/wasm/conv-fused.ts,
// src/backend/blas/conv.ts). The image is first transposed to [N, H, W, C]; a column row is then
// one output position (n, oh, ow) holding its kh·kw taps of C contiguous channels each, in
// (i, j, c) order: [N·L, kh·kw·C]. Each tap is one run of C floats, so small images (5×5, whose
// NCHW rows are 3 floats) cost a few vector copies per position instead of a loop per 3 floats.
// The weight is laid out [O, (i, j, c)] to match (a permutation of its columns).
// col2im's adjoint adds the taps into each pixel in (i, j) order, as assembly/conv.as's does, so
// the input gradient is the same sum in the same order.

/** Copies n floats (vectors, then a scalar tail). */
@inline function copyRun(d: usize, s: usize, n: i32): void {
  let k = 0;
  for (; k + 4 <= n; k += 4) v128.store(d + (<usize>k << 2), v128.load(s + (<usize>k << 2)));
  for (; k < n; k++) store<f32>(d + (<usize>k << 2), load<f32>(s + (<usize>k << 2)));
}

/** The 4×4 transpose of rows a0..a3, stored as rows at d, d + step, d + 2·step, d + 3·step (bytes). */
@inline function transpose4(a0: v128, a1: v128, a2: v128, a3: v128, d: usize, step: usize): void {
  const t0 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
  v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(d + step, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  v128.store(d + 2 * step, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  v128.store(d + 3 * step, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}

/** x (element (n,c,h,w) at x + (n*xn + c*xc + h*xh + w*xw)*4) → contiguous [N, H, W, C] at out, images [n0, n1). */
export function cl_toNHWC(x: usize, xn: i32, xc: i32, xh: i32, xw: i32, C: i32, H: i32, W: i32, out: usize, n0: i32, n1: i32): void {
  const rowStep = <usize>C << 2;
  for (let n = n0; n < n1; n++) {
    let c = 0;
    if (xw == 1) {
      // Four channels by four pixels of a row at a time, transposed in registers.
      for (; c + 4 <= C; c += 4) {
        for (let h = 0; h < H; h++) {
          const s = x + (<usize>(n * xn + c * xc + h * xh) << 2), cs = <usize>xc << 2;
          const d = out + (<usize>((n * H + h) * W) * <usize>C + <usize>c << 2);
          let w = 0;
          for (; w + 4 <= W; w += 4) {
            const o = <usize>w << 2;
            transpose4(v128.load(s + o), v128.load(s + cs + o), v128.load(s + 2 * cs + o), v128.load(s + 3 * cs + o), d + <usize>w * rowStep, rowStep);
          }
          for (; w < W; w++) {
            for (let q = 0; q < 4; q++) store<f32>(d + <usize>w * rowStep + (<usize>q << 2), load<f32>(s + <usize>q * cs + (<usize>w << 2)));
          }
        }
      }
    }
    for (; c < C; c++) {
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          store<f32>(out + (<usize>((n * H + h) * W + w) * <usize>C + <usize>c << 2), load<f32>(x + (<usize>(n * xn + c * xc + h * xh + w * xw) << 2)));
        }
      }
    }
  }
}

/** Contiguous [N, H, W, C] at src → contiguous [N, C, H, W] at out, images [n0, n1). */
export function cl_toNCHW(src: usize, C: i32, H: i32, W: i32, out: usize, n0: i32, n1: i32): void {
  const HW = H * W;
  const plane = <usize>HW << 2, run = <usize>C << 2;
  for (let n = n0; n < n1; n++) {
    const s0 = src + (<usize>n * <usize>HW * <usize>C << 2), d0 = out + (<usize>n * <usize>HW * <usize>C << 2);
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const s = s0 + (<usize>c << 2), d = d0 + <usize>c * plane;
      let p = 0;
      for (; p + 4 <= HW; p += 4) {
        const q = s + <usize>p * run;
        transpose4(v128.load(q), v128.load(q + run), v128.load(q + 2 * run), v128.load(q + 3 * run), d + (<usize>p << 2), plane);
      }
      for (; p < HW; p++) {
        for (let k = 0; k < 4; k++) store<f32>(d + <usize>k * plane + (<usize>p << 2), load<f32>(s + <usize>p * run + (<usize>k << 2)));
      }
    }
    for (; c < C; c++) {
      for (let p = 0; p < HW; p++) store<f32>(d0 + (<usize>(c * HW + p) << 2), load<f32>(s0 + (<usize>(p * C + c) << 2)));
    }
  }
}

/**
 * Columns [N·OH·OW, kh·kw·C] at out from the [N, H, W, C] image at x, taps outside the image
 * zero; rows of the images [n0, n1).
 */
export function cl_im2col(
  x: usize, N: i32, C: i32, H: i32, W: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
  OH: i32, OW: i32, out: usize, n0: i32, n1: i32,
): void {
  const K = kh * kw * C;
  for (let n = n0; n < n1; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let d = out + (<usize>((n * OH + oh) * OW + ow) * <usize>K << 2);
        for (let i = 0; i < kh; i++) {
          const h = oh * sh - ph + i * dh;
          for (let j = 0; j < kw; j++) {
            const w = ow * sw - pw + j * dw;
            if (h >= 0 && h < H && w >= 0 && w < W) copyRun(d, x + (<usize>((n * H + h) * W + w) * <usize>C << 2), C);
            else memory.fill(d, 0, <usize>C << 2);
            d += <usize>C << 2;
          }
        }
      }
    }
  }
}

/**
 * The adjoint: columns [N·OH·OW, kh·kw·C] at cols added into the zeroed [N, H, W, C] at out,
 * images [n0, n1). Taps outermost, so each pixel receives its terms in (i, j) order.
 */
export function cl_col2im(
  cols: usize, N: i32, C: i32, H: i32, W: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
  OH: i32, OW: i32, out: usize, n0: i32, n1: i32,
): void {
  const K = kh * kw * C;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const tap = <usize>((i * kw + j) * C) << 2;
      for (let n = n0; n < n1; n++) {
        for (let oh = 0; oh < OH; oh++) {
          const h = oh * sh - ph + i * dh;
          if (h < 0 || h >= H) continue;
          for (let ow = 0; ow < OW; ow++) {
            const w = ow * sw - pw + j * dw;
            if (w < 0 || w >= W) continue;
            const s = cols + (<usize>((n * OH + oh) * OW + ow) * <usize>K << 2) + tap;
            const d = out + (<usize>((n * H + h) * W + w) * <usize>C << 2);
            let c = 0;
            for (; c + 4 <= C; c += 4) {
              const o = <usize>c << 2;
              v128.store(d + o, f32x4.add(v128.load(d + o), v128.load(s + o)));
            }
            for (; c < C; c++) store<f32>(d + (<usize>c << 2), load<f32>(d + (<usize>c << 2)) + load<f32>(s + (<usize>c << 2)));
          }
        }
      }
    }
  }
}

/** w [O, C, kh·kw] (element (o, c, t) at w + (o*ws0 + (c*T + t)*ws1)*4, T = kh·kw) → contiguous [O, T, C] at out; back when `back`. */
export function cl_permuteWeight(w: usize, ws0: i32, ws1: i32, O: i32, C: i32, T: i32, out: usize, back: i32): void {
  for (let o = 0; o < O; o++) {
    for (let c = 0; c < C; c++) {
      for (let t = 0; t < T; t++) {
        const a = w + (<usize>(o * ws0 + (c * T + t) * ws1) << 2);
        const b = out + (<usize>((o * T + t) * C + c) << 2);
        if (back) store<f32>(a, load<f32>(b));
        else store<f32>(b, load<f32>(a));
      }
    }
  }
}

/** cl_toNHWC then cl_im2col for the images [n0, n1) (one job: image n's columns need only image n). */
export function cl_im2colNCHW(
  x: usize, xn: i32, xc: i32, xh: i32, xw: i32, N: i32, C: i32, H: i32, W: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
  OH: i32, OW: i32, nhwc: usize, out: usize, n0: i32, n1: i32,
): void {
  cl_toNHWC(x, xn, xc, xh, xw, C, H, W, nhwc, n0, n1);
  cl_im2col(nhwc, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, out, n0, n1);
}

/** The images [n0, n1) of `nhwc` zeroed, cl_col2im into them, then cl_toNCHW into out (contiguous [N, C, H, W]). */
export function cl_col2imNCHW(
  cols: usize, N: i32, C: i32, H: i32, W: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
  OH: i32, OW: i32, nhwc: usize, out: usize, n0: i32, n1: i32,
): void {
  const image = <usize>(C * H * W) << 2;
  memory.fill(nhwc + <usize>n0 * image, 0, <usize>(n1 - n0) * image);
  cl_col2im(cols, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, nhwc, n0, n1);
  cl_toNCHW(nhwc, C, H, W, out, n0, n1);
}
