// AssemblyScript (compiled by scripts/build-wasm.mjs; the .as extension keeps tsc away from it).
// Single-precision GEMM in the GotoBLAS shape: operands are packed into MR-row and NR-column
// panels per KC-deep block of the inner dimension, and a register-blocked 4×8 micro-kernel of
// f32x4 multiply-adds walks the tiles. Pointers are byte addresses into linear memory; strides
// and sizes are in elements. The caller (src/backend/wasm/matmul.ts) owns the memory layout.

export const MR: i32 = 4;
export const NR: i32 = 8;
export const KC: i32 = 256;
// Row panels per L2-sized block of A (MC = MCP * MR rows).
const MCP: i32 = 32;
// Columns per L2-sized block of B.
const NC: i32 = 256;

/** Rows m rounded up to whole MR panels. */
@inline function roundUp(x: i32, r: i32): i32 {
  return (x + r - 1) / r * r;
}

/**
 * Packs A (m×k, element (i,p) at src + (i*rs + p*cs)*4) into dst: for each KC block, Mp/MR panels
 * of kc×MR floats (row index fastest), rows past m zero. dst holds roundUp(m,MR)*k floats.
 */
export function packA(src: usize, rs: i32, cs: i32, m: i32, k: i32, dst: usize): void {
  const mp = roundUp(m, MR);
  for (let pc = 0; pc < k; pc += KC) {
    const kc = min(KC, k - pc);
    for (let i0 = 0; i0 < mp; i0 += MR) {
      let d = dst + ((<usize>pc * mp + <usize>i0 * kc) << 2);
      if (i0 + MR <= m) {
        const r0 = src + (<usize>(i0 * rs + pc * cs) << 2);
        const r1 = r0 + (<usize>rs << 2), r2 = r1 + (<usize>rs << 2), r3 = r2 + (<usize>rs << 2);
        const step = <usize>cs << 2;
        let o: usize = 0;
        for (let p = 0; p < kc; p++) {
          store<f32>(d, load<f32>(r0 + o));
          store<f32>(d, load<f32>(r1 + o), 4);
          store<f32>(d, load<f32>(r2 + o), 8);
          store<f32>(d, load<f32>(r3 + o), 12);
          d += 16;
          o += step;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let r = 0; r < MR; r++) {
            const i = i0 + r;
            store<f32>(d, i < m ? load<f32>(src + (<usize>(i * rs + (pc + p) * cs) << 2)) : 0);
            d += 4;
          }
        }
      }
    }
  }
}

/**
 * Packs B (k×n, element (p,j) at src + (p*rs + j*cs)*4) into dst: for each KC block, Np/NR panels
 * of kc×NR floats (column index fastest), columns past n zero. dst holds k*roundUp(n,NR) floats.
 */
export function packB(src: usize, rs: i32, cs: i32, k: i32, n: i32, dst: usize): void {
  const np = roundUp(n, NR);
  for (let pc = 0; pc < k; pc += KC) {
    const kc = min(KC, k - pc);
    for (let j0 = 0; j0 < np; j0 += NR) {
      let d = dst + ((<usize>pc * np + <usize>j0 * kc) << 2);
      if (j0 + NR <= n && cs == 1) {
        let s = src + (<usize>(pc * rs + j0) << 2);
        const step = <usize>rs << 2;
        for (let p = 0; p < kc; p++) {
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
          d += 32;
          s += step;
        }
      } else if (j0 + NR <= n) {
        const step = <usize>cs << 2;
        for (let p = 0; p < kc; p++) {
          let s = src + (<usize>((pc + p) * rs + j0 * cs) << 2);
          for (let c = 0; c < NR; c++) {
            store<f32>(d, load<f32>(s));
            d += 4;
            s += step;
          }
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let c = 0; c < NR; c++) {
            const j = j0 + c;
            store<f32>(d, j < n ? load<f32>(src + (<usize>((pc + p) * rs + j * cs) << 2)) : 0);
            d += 4;
          }
        }
      }
    }
  }
}

/**
 * a·b + c per lane: one fused multiply-add where the engine has relaxed SIMD (the build makes a
 * second module with it; Node 22+), else a multiply and an add.
 */
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/**
 * C tile (MR×NR at c, row stride ldc elements) = or += packed A panel · packed B panel. When the
 * tile sticks out of C (rows < MR or cols < NR) it goes through the scratch tile at `tmp`.
 */
@inline function microKernel(a: usize, b: usize, kc: i32, c: usize, ldc: i32, accumulate: bool, rows: i32, cols: i32, tmp: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let av = v128.load32_splat(a);
    c00 = madd(av, b0, c00);
    c01 = madd(av, b1, c01);
    av = v128.load32_splat(a, 4);
    c10 = madd(av, b0, c10);
    c11 = madd(av, b1, c11);
    av = v128.load32_splat(a, 8);
    c20 = madd(av, b0, c20);
    c21 = madd(av, b1, c21);
    av = v128.load32_splat(a, 12);
    c30 = madd(av, b0, c30);
    c31 = madd(av, b1, c31);
    a += 16;
    b += 32;
  }
  const full = rows == MR && cols == NR;
  const dst = full ? c : tmp;
  const ld: usize = full ? <usize>ldc << 2 : 32;
  if (!full) {
    // Gather the existing partial tile so that the accumulate path below is uniform.
    if (accumulate) {
      for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) {
        store<f32>(tmp + <usize>(r * NR + q) * 4, load<f32>(c + <usize>(r * ldc + q) * 4));
      }
    }
  }
  const d1 = dst + ld, d2 = d1 + ld, d3 = d2 + ld;
  if (accumulate) {
    c00 = f32x4.add(c00, v128.load(dst)); c01 = f32x4.add(c01, v128.load(dst, 16));
    c10 = f32x4.add(c10, v128.load(d1)); c11 = f32x4.add(c11, v128.load(d1, 16));
    c20 = f32x4.add(c20, v128.load(d2)); c21 = f32x4.add(c21, v128.load(d2, 16));
    c30 = f32x4.add(c30, v128.load(d3)); c31 = f32x4.add(c31, v128.load(d3, 16));
  }
  if (full) {
    v128.store(dst, c00); v128.store(dst, c01, 16);
    v128.store(d1, c10); v128.store(d1, c11, 16);
    v128.store(d2, c20); v128.store(d2, c21, 16);
    v128.store(d3, c30); v128.store(d3, c31, 16);
  } else {
    v128.store(tmp, c00); v128.store(tmp, c01, 16);
    v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
    v128.store(tmp, c20, 64); v128.store(tmp, c21, 80);
    v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
    for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) {
      store<f32>(c + <usize>(r * ldc + q) * 4, load<f32>(tmp + <usize>(r * NR + q) * 4));
    }
  }
}

/**
 * C (m×n, contiguous at c) = packed A · packed B, for the row panels [ip0, ip1) only, so that
 * threads can share one product. `tmp` is 128 bytes of scratch private to the caller.
 */
export function gemmPacked(ap: usize, bp: usize, c: usize, m: i32, n: i32, k: i32, ip0: i32, ip1: i32, tmp: usize): void {
  const mp = roundUp(m, MR), np = roundUp(n, NR);
  if (k == 0) {
    for (let i = ip0 * MR; i < min(ip1 * MR, m); i++) memory.fill(c + (<usize>i * n << 2), 0, <usize>n << 2);
    return;
  }
  for (let pc = 0; pc < k; pc += KC) {
    const kc = min(KC, k - pc);
    const acc = pc > 0;
    for (let jc = 0; jc < np; jc += NC) {
    const jcEnd = min(jc + NC, np);
    for (let ic = ip0; ic < ip1; ic += MCP) {
      const icEnd = min(ic + MCP, ip1);
      for (let j0 = jc; j0 < jcEnd; j0 += NR) {
        const bpan = bp + ((<usize>pc * np + <usize>j0 * kc) << 2);
        const cols = min(NR, n - j0);
        for (let ip = ic; ip < icEnd; ip++) {
          const i0 = ip * MR;
          const apan = ap + ((<usize>pc * mp + <usize>i0 * kc) << 2);
          const cc = c + ((<usize>i0 * n + j0) << 2);
          microKernel(apan, bpan, kc, cc, n, acc, min(MR, m - i0), cols, tmp);
        }
      }
    }
    }
  }
}

/**
 * Batched C[bi] = A[bi] · B[bi] on one thread. A[bi] starts at a + bi*asb (elements), B likewise;
 * C is nb contiguous m×n matrices. An operand whose batch stride is 0 is packed once.
 * Scratch: apack roundUp(m,MR)*k floats, bpack k*roundUp(n,NR) floats, tmp 128 bytes.
 */
export function sgemm(
  nb: i32, m: i32, n: i32, k: i32,
  a: usize, asb: i32, asr: i32, asc: i32,
  b: usize, bsb: i32, bsr: i32, bsc: i32,
  c: usize, apack: usize, bpack: usize, tmp: usize,
): void {
  const mpanels = roundUp(m, MR) / MR;
  for (let bi = 0; bi < nb; bi++) {
    if (bi == 0 || asb != 0) packA(a + (<usize>(bi * asb) << 2), asr, asc, m, k, apack);
    if (bi == 0 || bsb != 0) packB(b + (<usize>(bi * bsb) << 2), bsr, bsc, k, n, bpack);
    gemmPacked(apack, bpack, c + ((<usize>bi * m * n) << 2), m, n, k, 0, mpanels, tmp);
  }
}

/**
 * One thread's share of a product whose B is already packed (at bpack, for all n columns): packs
 * its m rows of A (element (i,p) at a + (i*asr + p*asc)*4) into its own apack and writes those m
 * rows of C (contiguous, n wide) at c.
 */
export function gemmRows(a: usize, asr: i32, asc: i32, m: i32, n: i32, k: i32, bpack: usize, c: usize, apack: usize, tmp: usize): void {
  packA(a, asr, asc, m, k, apack);
  gemmPacked(apack, bpack, c, m, n, k, 0, roundUp(m, MR) / MR, tmp);
}
