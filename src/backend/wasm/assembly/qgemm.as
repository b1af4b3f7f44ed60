// int8 matrix product for quantised layers: C[i][j] = Σ_p A[i][p] · W[j][p], with A unsigned 8-bit
// activations (row-major M×K), W signed 8-bit weights (row-major N×K, a Linear's layout) and C
// 32-bit integers (row-major M×N). Exact integer arithmetic, so it equals the js reference kernel
// bit for bit. Eight bytes at a time are widened to 16 bits and multiplied pairwise with
// i32x4.dot_i16x8_s (8 multiply-adds per instruction, i32 accumulation; |a·w| ≤ 255·127, so K
// up to 66,000 cannot overflow). A 2×4 block of outputs shares each load of A and W.

@inline function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/** One output: row a (K bytes, u8) · row w (K bytes, i8). */
@inline function dot1(a: usize, w: usize, k: i32): i32 {
  const k8 = k & ~7;
  let acc = i32x4.splat(0);
  for (let p = 0; p < k8; p += 8) {
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(v128.load8x8_u(a + <usize>p), v128.load8x8_s(w + <usize>p)));
  }
  let s = hsum(acc);
  for (let p = k8; p < k; p++) s += <i32>load<u8>(a + <usize>p) * <i32>load<i8>(w + <usize>p);
  return s;
}

export function qgemmU8I8(a: usize, w: usize, c: usize, m: i32, n: i32, k: i32): void {
  const k8 = k & ~7;
  const K = <usize>k;
  let i = 0;
  for (; i + 2 <= m; i += 2) {
    const a0 = a + <usize>i * K;
    const a1 = a0 + K;
    const c0 = c + (<usize>i * <usize>n) * 4;
    const c1 = c0 + <usize>n * 4;
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const w0 = w + <usize>j * K;
      const w1 = w0 + K;
      const w2 = w1 + K;
      const w3 = w2 + K;
      let s00 = i32x4.splat(0), s01 = i32x4.splat(0), s02 = i32x4.splat(0), s03 = i32x4.splat(0);
      let s10 = i32x4.splat(0), s11 = i32x4.splat(0), s12 = i32x4.splat(0), s13 = i32x4.splat(0);
      for (let p = 0; p < k8; p += 8) {
        const P = <usize>p;
        const x0 = v128.load8x8_u(a0 + P);
        const x1 = v128.load8x8_u(a1 + P);
        const y0 = v128.load8x8_s(w0 + P);
        const y1 = v128.load8x8_s(w1 + P);
        const y2 = v128.load8x8_s(w2 + P);
        const y3 = v128.load8x8_s(w3 + P);
        s00 = i32x4.add(s00, i32x4.dot_i16x8_s(x0, y0));
        s01 = i32x4.add(s01, i32x4.dot_i16x8_s(x0, y1));
        s02 = i32x4.add(s02, i32x4.dot_i16x8_s(x0, y2));
        s03 = i32x4.add(s03, i32x4.dot_i16x8_s(x0, y3));
        s10 = i32x4.add(s10, i32x4.dot_i16x8_s(x1, y0));
        s11 = i32x4.add(s11, i32x4.dot_i16x8_s(x1, y1));
        s12 = i32x4.add(s12, i32x4.dot_i16x8_s(x1, y2));
        s13 = i32x4.add(s13, i32x4.dot_i16x8_s(x1, y3));
      }
      let r00 = hsum(s00), r01 = hsum(s01), r02 = hsum(s02), r03 = hsum(s03);
      let r10 = hsum(s10), r11 = hsum(s11), r12 = hsum(s12), r13 = hsum(s13);
      for (let p = k8; p < k; p++) {
        const P = <usize>p;
        const x0 = <i32>load<u8>(a0 + P);
        const x1 = <i32>load<u8>(a1 + P);
        const y0 = <i32>load<i8>(w0 + P);
        const y1 = <i32>load<i8>(w1 + P);
        const y2 = <i32>load<i8>(w2 + P);
        const y3 = <i32>load<i8>(w3 + P);
        r00 += x0 * y0; r01 += x0 * y1; r02 += x0 * y2; r03 += x0 * y3;
        r10 += x1 * y0; r11 += x1 * y1; r12 += x1 * y2; r13 += x1 * y3;
      }
      const J = <usize>j * 4;
      store<i32>(c0 + J, r00); store<i32>(c0 + J + 4, r01); store<i32>(c0 + J + 8, r02); store<i32>(c0 + J + 12, r03);
      store<i32>(c1 + J, r10); store<i32>(c1 + J + 4, r11); store<i32>(c1 + J + 8, r12); store<i32>(c1 + J + 12, r13);
    }
    for (; j < n; j++) {
      const wj = w + <usize>j * K;
      store<i32>(c0 + <usize>j * 4, dot1(a0, wj, k));
      store<i32>(c1 + <usize>j * 4, dot1(a1, wj, k));
    }
  }
  for (; i < m; i++) {
    const ai = a + <usize>i * K;
    const ci = c + (<usize>i * <usize>n) * 4;
    for (let j = 0; j < n; j++) store<i32>(ci + <usize>j * 4, dot1(ai, w + <usize>j * K, k));
  }
}
