// AssemblyScript: the data movement of the fused convolution (src/backend/wasm/conv-fused.ts).
// A conv's product comes out as [O, N, L] (one matrix product for the whole batch) while the
// result is [N, O, L]; its gradient goes the other way. This strided gather does either
// transposition in one pass inside wasm memory, adding the bias on the way out.

/**
 * out (contiguous d0×d1×d2×d3) = src element (i0,i1,i2,i3) at src + (i0*s0 + i1*s1 + i2*s2 + i3*s3)*4,
 * plus bias[i1] (contiguous f32 at `bias`) when bias != 0. Strides may be 0 or negative. It runs
 * on one thread: the cnn's largest (2.7 MB, either direction) measured 0.07-0.13 ms, too little to split.
 */
export function cvf_gather4(
  src: usize, d0: i32, d1: i32, d2: i32, d3: i32, s0: i32, s1: i32, s2: i32, s3: i32,
  bias: usize, out: usize,
): void {
  let d = out;
  for (let i0 = 0; i0 < d0; i0++) {
    for (let i1 = 0; i1 < d1; i1++) {
      const add = bias != 0;
      const b = add ? load<f32>(bias + (<usize>i1 << 2)) : 0;
      const bv = f32x4.splat(b);
      for (let i2 = 0; i2 < d2; i2++) {
        // Element offsets may be negative: the usize wrap-around then lands on the right address.
        let s = src + (<usize>(i0 * s0 + i1 * s1 + i2 * s2) << 2);
        let i3 = 0;
        if (s3 == 1) {
          if (add) {
            for (; i3 + 4 <= d3; i3 += 4) { v128.store(d, f32x4.add(v128.load(s), bv)); d += 16; s += 16; }
            for (; i3 < d3; i3++) { store<f32>(d, load<f32>(s) + b); d += 4; s += 4; }
          } else {
            for (; i3 + 4 <= d3; i3 += 4) { v128.store(d, v128.load(s)); d += 16; s += 16; }
            for (; i3 < d3; i3++) { store<f32>(d, load<f32>(s)); d += 4; s += 4; }
          }
        } else {
          const step = <usize>s3 << 2;
          // No bias means a plain copy: adding 0 would turn -0 into +0.
          if (add) for (; i3 < d3; i3++) { store<f32>(d, load<f32>(s) + b); d += 4; s += step; }
          else for (; i3 < d3; i3++) { store<f32>(d, load<f32>(s)); d += 4; s += step; }
        }
      }
    }
  }
}
