// AssemblyScript: the passes that fuse a ReLU into the convolution (src/backend/wasm/conv-fused.ts).
// Forward: the product [O, N, L] → [N, O, L] plus the bias, then relu, in the one transposing pass.
// Backward: the gradient masked by the op's output, transposed to the [O, N·L] rows the products
// take, with each row's sum (the bias gradient) taken on the way.
// ReLU is done with a bit mask, not max(): max would canonicalise NaN payloads and keep -0, where
// the js kernels keep v itself when v > 0 or v is NaN and give +0 otherwise.

/**
 * out [N, O, L] (contiguous) = relu(prod [O, N, L] (contiguous) + bias[o]); no bias when bias == 0;
 * the images [n0, n1).
 * relu(v) = v if v > 0 or v is NaN, else +0 (the js kernel's `v > 0 || v !== v ? v : 0`).
 */
export function cvr_outputRelu(prod: usize, N: i32, O: i32, L: i32, bias: usize, out: usize, n0: i32, n1: i32): void {
  const zero = f32x4.splat(0);
  let d = out + (<usize>n0 * <usize>O * <usize>L << 2);
  for (let n = n0; n < n1; n++) {
    for (let o = 0; o < O; o++) {
      const b: f32 = bias != 0 ? load<f32>(bias + (<usize>o << 2)) : 0;
      const bv = f32x4.splat(b);
      let s = prod + (<usize>(o * N + n) * <usize>L << 2);
      let i = 0;
      // Without a bias the value is used as is: adding 0 would turn -0 into +0 (relu does too, but
      // NaN payloads and the rounding of the composite's plain copy stay the same this way).
      if (bias != 0) {
        for (; i + 4 <= L; i += 4) {
          const v = f32x4.add(v128.load(s), bv);
          v128.store(d, v128.and(v, v128.or(f32x4.gt(v, zero), f32x4.ne(v, v))));
          d += 16; s += 16;
        }
      } else {
        for (; i + 4 <= L; i += 4) {
          const v = v128.load(s);
          v128.store(d, v128.and(v, v128.or(f32x4.gt(v, zero), f32x4.ne(v, v))));
          d += 16; s += 16;
        }
      }
      for (; i < L; i++) {
        const v: f32 = bias != 0 ? load<f32>(s) + b : load<f32>(s);
        store<f32>(d, v > 0 || v != v ? v : 0);
        d += 4; s += 4;
      }
    }
  }
}

/**
 * out (contiguous [d0, d1, d2, d3]) = g element (i0,i1,i2,i3) (at g + Σ i·gs, in elements), masked
 * by m when m != 0: m element > 0 ? g : +0 (the js reluBackward's `b > 0 ? a : 0`). Called with
 * d0 = O, d1 = N, d2 = OH, d3 = OW, so out is the [O, N·L] gradient rows. When sums != 0,
 * sums[i0] = Σ of out's row i0 (f32 at sums), added in float64 pairs and rounded once, so its
 * order differs from the sum op's but its error stays far below float32's over 10⁴-10⁵ terms.
 * Strides may be 0 or negative. Rows [r0, r1) of out only.
 */
export function cvr_gradRows(
  g: usize, d0: i32, d1: i32, d2: i32, d3: i32, gs0: i32, gs1: i32, gs2: i32, gs3: i32,
  m: usize, ms0: i32, ms1: i32, ms2: i32, ms3: i32, out: usize, sums: usize, r0: i32, r1: i32,
): void {
  const zero = f32x4.splat(0);
  const masked = m != 0;
  const vec = gs3 == 1 && (!masked || ms3 == 1);
  let d = out + (<usize>r0 * <usize>d1 * <usize>d2 * <usize>d3 << 2);
  for (let i0 = r0; i0 < r1; i0++) {
    let acc0 = f64x2.splat(0), acc1 = f64x2.splat(0);
    let tail: f64 = 0;
    for (let i1 = 0; i1 < d1; i1++) {
      for (let i2 = 0; i2 < d2; i2++) {
        // Element offsets may be negative: the usize wrap-around then lands on the right address.
        let s = g + (<usize>(i0 * gs0 + i1 * gs1 + i2 * gs2) << 2);
        let t = m + (<usize>(i0 * ms0 + i1 * ms1 + i2 * ms2) << 2);
        let i3 = 0;
        if (vec) {
          for (; i3 + 4 <= d3; i3 += 4) {
            let v = v128.load(s);
            if (masked) { v = v128.and(v, f32x4.gt(v128.load(t), zero)); t += 16; }
            v128.store(d, v);
            acc0 = f64x2.add(acc0, f64x2.promote_low_f32x4(v));
            acc1 = f64x2.add(acc1, f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 0, 1)));
            d += 16; s += 16;
          }
        }
        const gstep = <usize>gs3 << 2, mstep = <usize>ms3 << 2;
        for (; i3 < d3; i3++) {
          let v = load<f32>(s);
          if (masked) { v = load<f32>(t) > 0 ? v : 0; t += mstep; }
          store<f32>(d, v);
          tail += <f64>v;
          d += 4; s += gstep;
        }
      }
    }
    if (sums != 0) {
      const a = f64x2.add(acc0, acc1);
      store<f32>(sums + (<usize>i0 << 2), <f32>(f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1) + tail));
    }
  }
}
