// AssemblyScript: conv + ReLU + max-pool fused (src/backend/wasm/conv-fused.ts, conv2dReluPool).
// Forward: the product [O, N, L] → bias, relu, then non-overlapping max-pool windows (stride =
// kernel, no padding) straight into the pooled [N, O, PH, PW] and each window's argmax (flat index
// in the OH×OW plane), so the full-size activation is never laid out, copied out or staged back.
// Backward: the pooled gradient, masked by the pooled output (> 0), scattered into zeroed gradient
// rows [O, N·L] at the argmax positions: the layout the products take, with each row's sum.
// Values are those of relu then maxPool2d as separate kernels: relu(v) = v if v > 0 or NaN, else +0;
// the first maximum in window order wins, NaN over any number (fused.as's rule).

@inline function relu1(v: f32): f32 {
  return v > 0 || v != v ? v : 0;
}
@inline function relu4(v: v128): v128 {
  return v128.and(v, v128.or(f32x4.gt(v, f32x4.splat(0)), f32x4.ne(v, v)));
}
@inline function takes1(v: f32, best: f32): bool {
  return v > best || (v != v && best == best);
}
@inline function takes4v(v: v128, best: v128): v128 {
  return v128.or(f32x4.gt(v, best), v128.and(f32x4.ne(v, v), f32x4.eq(best, best)));
}

/**
 * out [N, O, PH, PW] and arg (i32, same shape) from prod [O, N, OH·OW] (contiguous) + bias[o]
 * (none when bias == 0), relu'd, pooled over KH×KW windows with stride KH×KW. Planes [o0, o1).
 */
export function cvp_outputReluPool(
  prod: usize, N: i32, O: i32, OH: i32, OW: i32, bias: usize, KH: i32, KW: i32, PH: i32, PW: i32,
  out: usize, arg: usize, o0: i32, o1: i32,
): void {
  const L = OH * OW;
  const fast = KH == 2 && KW == 2;
  for (let o = o0; o < o1; o++) {
    const hasBias = bias != 0;
    const b: f32 = hasBias ? load<f32>(bias + (<usize>o << 2)) : 0;
    const bv = f32x4.splat(b);
    for (let n = 0; n < N; n++) {
      const plane = prod + (<usize>(o * N + n) * <usize>L << 2);
      const q0 = <usize>(n * O + o) * <usize>(PH * PW) << 2;
      for (let ph = 0; ph < PH; ph++) {
        let pw = 0;
        const dst = out + q0 + (<usize>(ph * PW) << 2), adst = arg + q0 + (<usize>(ph * PW) << 2);
        if (fast) {
          // Four windows at a time: two rows of 8 values, de-interleaved into even and odd columns,
          // compared in window order (h,w), (h,w+1), (h+1,w), (h+1,w+1).
          const row = plane + (<usize>(2 * ph * OW) << 2), row1 = row + (<usize>OW << 2);
          const idx0 = 2 * ph * OW;
          for (; pw + 4 <= PW; pw += 4) {
            const c = <usize>pw << 3;
            let a0 = v128.load(row + c), a1 = v128.load(row + c, 16);
            let b0 = v128.load(row1 + c), b1 = v128.load(row1 + c, 16);
            if (hasBias) { a0 = f32x4.add(a0, bv); a1 = f32x4.add(a1, bv); b0 = f32x4.add(b0, bv); b1 = f32x4.add(b1, bv); }
            a0 = relu4(a0); a1 = relu4(a1); b0 = relu4(b0); b1 = relu4(b1);
            const idx = i32x4.add(i32x4.splat(idx0 + 2 * pw), i32x4(0, 2, 4, 6));
            let best = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6);
            let bi = idx;
            let v = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7);
            let t = takes4v(v, best);
            best = v128.bitselect(v, best, t); bi = v128.bitselect(i32x4.add(idx, i32x4.splat(1)), bi, t);
            v = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
            t = takes4v(v, best);
            best = v128.bitselect(v, best, t); bi = v128.bitselect(i32x4.add(idx, i32x4.splat(OW)), bi, t);
            v = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
            t = takes4v(v, best);
            best = v128.bitselect(v, best, t); bi = v128.bitselect(i32x4.add(idx, i32x4.splat(OW + 1)), bi, t);
            v128.store(dst + (<usize>pw << 2), best);
            v128.store(adst + (<usize>pw << 2), bi);
          }
        }
        for (; pw < PW; pw++) {
          let best: f32 = 0;
          let bi = -1;
          for (let i = 0; i < KH; i++) {
            const h = ph * KH + i;
            for (let j = 0; j < KW; j++) {
              const w = pw * KW + j;
              const raw = load<f32>(plane + (<usize>(h * OW + w) << 2));
              const r = relu1(hasBias ? raw + b : raw);
              if (bi < 0 || takes1(r, best)) { best = r; bi = h * OW + w; }
            }
          }
          store<f32>(dst + (<usize>pw << 2), best);
          store<i32>(adst + (<usize>pw << 2), bi);
        }
      }
    }
  }
}

/**
 * rows [O, N·L] (zeroed here; output channels [o0, o1)) from the pooled gradient g [N, O, PH, PW] (element at g +
 * (n*gs0 + o*gs1 + ph*gs2 + pw*gs3)*4), masked by pooled (contiguous, pooled > 0 ? g : +0) and
 * written at each window's argmax (arg, contiguous i32); 0 + g, as the pooling backward's
 * scatter-add into zeros gives (so -0 becomes +0). sums[o] = the row's sum unless sums == 0.
 */
export function cvp_gradRowsPool(
  g: usize, gs0: i32, gs1: i32, gs2: i32, gs3: i32, pooled: usize, arg: usize,
  N: i32, O: i32, L: i32, PH: i32, PW: i32, rows: usize, sums: usize, o0: i32, o1: i32,
): void {
  const P = PH * PW;
  for (let o = o0; o < o1; o++) {
    let acc: f64 = 0;
    for (let n = 0; n < N; n++) {
      const row = rows + (<usize>(o * N + n) * <usize>L << 2);
      // Zeroed a row at a time, just before its scatter, so the row is still in cache for it.
      memory.fill(row, 0, <usize>L << 2);
      const q = <usize>(n * O + o) * <usize>P << 2;
      for (let ph = 0; ph < PH; ph++) {
        const gr = g + (<usize>(n * gs0 + o * gs1 + ph * gs2) << 2);
        for (let pw = 0; pw < PW; pw++) {
          const k = q + (<usize>(ph * PW + pw) << 2);
          const gv = load<f32>(gr + (<usize>(pw * gs3) << 2));
          const v: f32 = load<f32>(pooled + k) > 0 ? <f32>0 + gv : <f32>0;
          store<f32>(row + (<usize>load<i32>(arg + k) << 2), v);
          acc += <f64>v;
        }
      }
    }
    if (sums != 0) store<f32>(sums + (<usize>o << 2), <f32>acc);
  }
}
