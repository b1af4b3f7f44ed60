// AssemblyScript: float32 elementwise kernels (binary, unary, where, strided copy and assign) for
// src/backend/wasm/elementwise.ts. Shapes arrive collapsed (adjacent dims merged wherever every
// operand allows, see src/backend/js/loops.ts) in a small i32 area `meta`: EW_MAXR dims, then
// EW_MAXR strides per operand, then EW_MAXR words of odometer state. Outputs are contiguous. An
// odometer walks all dims but the last; the last is a run with each operand's own stride, taken
// with f32x4 when that stride is 1 (load) or 0 (splat). The TS side densifies an operand whose
// run stride is anything else (ew_copy's tiled transpose) before calling binary or where.
// Results match the js reference bit for bit: f32 +,-,*,/,sqrt round exactly as JS's double op
// stored to float32 does, and the selects below reproduce its NaN and signed-zero choices.

export const EW_MAXR: i32 = 8;

@inline function dim(meta: usize, d: i32): i32 { return load<i32>(meta + (<usize>d << 2)); }
/** Stride of operand k (0-based) along dim d. */
@inline function strd(meta: usize, k: i32, d: i32): i32 {
  return load<i32>(meta + (<usize>((k + 1) * EW_MAXR + d) << 2));
}
/** Odometer digit for dim d, kept after the strides of at most three operands. */
@inline function idxp(meta: usize, d: i32): usize { return meta + (<usize>(4 * EW_MAXR + d) << 2); }

/** How many runs the odometer makes over dims [0, upto), and zeroes its digits. */
function startRuns(meta: usize, upto: i32): i32 {
  let runs = 1;
  for (let d = 0; d < upto; d++) { runs *= dim(meta, d); store<i32>(idxp(meta, d), 0); }
  return runs;
}

/** Steps the odometer over dims [0, upto); returns the dim that moved (those after it wrapped). */
function bump(meta: usize, upto: i32): i32 {
  let d = upto - 1;
  for (; d >= 0; d--) {
    const i = load<i32>(idxp(meta, d)) + 1;
    if (i < dim(meta, d)) { store<i32>(idxp(meta, d), i); break; }
    store<i32>(idxp(meta, d), 0);
  }
  return d;
}

/** Byte delta of operand k when the odometer moved dim `moved` and wrapped all dims after it. */
@inline function delta(meta: usize, k: i32, moved: i32, upto: i32): usize {
  let s = strd(meta, k, moved);
  for (let d = moved + 1; d < upto; d++) s -= strd(meta, k, d) * (dim(meta, d) - 1);
  return <usize>s << 2;
}

// ---- binary -------------------------------------------------------------------------------

// Op codes, as in elementwise.ts.
const ADD = 0, SUB = 1, MUL = 2, DIV = 3, MAX = 4, MIN = 5, EQ = 6, NE = 7, LT = 8, LE = 9, GT = 10, GE = 11;
/** ReLU's gradient: a where b > 0, else +0 (a NaN b gives 0, as in the js kernel). */
const RGRAD = 12;

@inline function nanv(): v128 { return i32x4.splat(0x7fc00000); }

/** True (1.0, or 1 as int32 when `int`) where the mask is set. */
@inline function truth(m: v128, int: bool): v128 {
  return v128.and(m, int ? i32x4.splat(1) : f32x4.splat(1.0));
}

@inline function vbin(op: i32, a: v128, b: v128, int: bool): v128 {
  switch (op) {
    case ADD: return f32x4.add(a, b);
    case SUB: return f32x4.sub(a, b);
    case MUL: return f32x4.mul(a, b);
    case DIV: return f32x4.div(a, b);
    // js: a !== a || b !== b ? NaN : a > b ? a : b (so max(+0,-0) is -0: pmax, not f32x4.max).
    case MAX: return v128.bitselect(nanv(), f32x4.pmax(b, a), v128.or(f32x4.ne(a, a), f32x4.ne(b, b)));
    case MIN: return v128.bitselect(nanv(), f32x4.pmin(b, a), v128.or(f32x4.ne(a, a), f32x4.ne(b, b)));
    case EQ: return truth(f32x4.eq(a, b), int);
    case NE: return truth(f32x4.ne(a, b), int);
    case LT: return truth(f32x4.lt(a, b), int);
    case LE: return truth(f32x4.le(a, b), int);
    case GT: return truth(f32x4.gt(a, b), int);
    case RGRAD: return v128.and(a, f32x4.gt(b, f32x4.splat(0)));
    default: return truth(f32x4.ge(a, b), int);
  }
}

/** The same as vbin on one lane, stored at o. */
@inline function sbin(op: i32, o: usize, a: f32, b: f32, int: bool): void {
  let r: f32 = 0;
  let t = false;
  switch (op) {
    case ADD: r = a + b; break;
    case SUB: r = a - b; break;
    case MUL: r = a * b; break;
    case DIV: r = a / b; break;
    case MAX: r = a != a || b != b ? NaN : a > b ? a : b; break;
    case MIN: r = a != a || b != b ? NaN : a < b ? a : b; break;
    case EQ: t = a == b; break;
    case NE: t = a != b; break;
    case LT: t = a < b; break;
    case LE: t = a <= b; break;
    case GT: t = a > b; break;
    case RGRAD: r = b > 0 ? a : 0; break;
    default: t = a >= b;
  }
  if (op >= EQ && op <= GE) {
    if (int) store<i32>(o, t ? 1 : 0);
    else store<f32>(o, t ? 1 : 0);
  } else {
    store<f32>(o, r);
  }
}

/** One run of n outputs at o; a and b step da and db elements. */
@inline function runBin(op: i32, int: bool, o: usize, a: usize, da: i32, b: usize, db: i32, n: i32): void {
  let i = 0;
  if (da == 1 && db == 1) {
    for (; i + 4 <= n; i += 4) { v128.store(o, vbin(op, v128.load(a), v128.load(b), int)); o += 16; a += 16; b += 16; }
  } else if (da == 1 && db == 0) {
    const vb = v128.load32_splat(b);
    for (; i + 4 <= n; i += 4) { v128.store(o, vbin(op, v128.load(a), vb, int)); o += 16; a += 16; }
  } else if (da == 0 && db == 1) {
    const va = v128.load32_splat(a);
    for (; i + 4 <= n; i += 4) { v128.store(o, vbin(op, va, v128.load(b), int)); o += 16; b += 16; }
  }
  const sa = <usize>da << 2, sb = <usize>db << 2;
  for (; i < n; i++) { sbin(op, o, load<f32>(a), load<f32>(b), int); o += 4; a += sa; b += sb; }
}

@inline function loopBin(op: i32, int: bool, nd: i32, meta: usize, a: usize, b: usize, o: usize): void {
  const last = nd - 1;
  const len = dim(meta, last), da = strd(meta, 0, last), db = strd(meta, 1, last);
  const runs = startRuns(meta, last);
  for (let r = 0; r < runs; r++) {
    runBin(op, int, o, a, da, b, db, len);
    o += <usize>len << 2;
    if (r + 1 < runs) {
      const m = bump(meta, last);
      a += delta(meta, 0, m, last);
      b += delta(meta, 1, m, last);
    }
  }
}

/**
 * out = op(a, b) over the collapsed shape (nd dims in meta, operand strides 0 and 1). For the
 * comparisons, `int` != 0 writes int32 0/1 instead of float32.
 */
export function ew_binary(op: i32, int: i32, nd: i32, meta: usize, a: usize, b: usize, out: usize): void {
  // Each case inlines the loop with a constant op, so the switch in vbin folds away.
  const iv = int != 0;
  switch (op) {
    case ADD: loopBin(ADD, false, nd, meta, a, b, out); break;
    case SUB: loopBin(SUB, false, nd, meta, a, b, out); break;
    case MUL: loopBin(MUL, false, nd, meta, a, b, out); break;
    case DIV: loopBin(DIV, false, nd, meta, a, b, out); break;
    case MAX: loopBin(MAX, false, nd, meta, a, b, out); break;
    case MIN: loopBin(MIN, false, nd, meta, a, b, out); break;
    case EQ: if (iv) loopBin(EQ, true, nd, meta, a, b, out); else loopBin(EQ, false, nd, meta, a, b, out); break;
    case NE: if (iv) loopBin(NE, true, nd, meta, a, b, out); else loopBin(NE, false, nd, meta, a, b, out); break;
    case LT: if (iv) loopBin(LT, true, nd, meta, a, b, out); else loopBin(LT, false, nd, meta, a, b, out); break;
    case LE: if (iv) loopBin(LE, true, nd, meta, a, b, out); else loopBin(LE, false, nd, meta, a, b, out); break;
    case GT: if (iv) loopBin(GT, true, nd, meta, a, b, out); else loopBin(GT, false, nd, meta, a, b, out); break;
    case RGRAD: loopBin(RGRAD, false, nd, meta, a, b, out); break;
    default: if (iv) loopBin(GE, true, nd, meta, a, b, out); else loopBin(GE, false, nd, meta, a, b, out);
  }
}

// ---- unary (contiguous; the TS side makes a strided input dense first) ---------------------

const NEG = 0, ABS = 1, SQRT = 2, RELU = 3, SIGN = 4, FLOOR = 5, CEIL = 6;

@inline function vun(op: i32, x: v128): v128 {
  switch (op) {
    case NEG: return f32x4.neg(x);
    case ABS: return f32x4.abs(x);
    case SQRT: return f32x4.sqrt(x);
    // js: x > 0 || x !== x ? x : 0 (so relu(-0) is +0 and NaN stays).
    case RELU: return v128.and(x, v128.or(f32x4.gt(x, f32x4.splat(0)), f32x4.ne(x, x)));
    case SIGN: {
      const z = f32x4.splat(0);
      return v128.or(
        v128.or(v128.and(f32x4.gt(x, z), f32x4.splat(1.0)), v128.and(f32x4.lt(x, z), f32x4.splat(-1.0))),
        v128.and(f32x4.ne(x, x), nanv()),
      );
    }
    case FLOOR: return f32x4.floor(x);
    default: return f32x4.ceil(x);
  }
}

@inline function sun(op: i32, x: f32): f32 {
  switch (op) {
    case NEG: return -x;
    case ABS: return abs<f32>(x);
    case SQRT: return sqrt<f32>(x);
    case RELU: return x > 0 || x != x ? x : 0;
    case SIGN: return x > 0 ? 1 : x < 0 ? -1 : x == 0 ? 0 : NaN;
    case FLOOR: return floor<f32>(x);
    default: return ceil<f32>(x);
  }
}

@inline function loopUn(op: i32, x: usize, o: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    v128.store(o, vun(op, v128.load(x)));
    v128.store(o, vun(op, v128.load(x, 16)), 16);
    x += 32; o += 32;
  }
  for (; i < n; i++) { store<f32>(o, sun(op, load<f32>(x))); x += 4; o += 4; }
}

/** out[i] = op(x[i]) for n contiguous floats; out may be x. */
export function ew_unary(op: i32, x: usize, out: usize, n: i32): void {
  switch (op) {
    case NEG: loopUn(NEG, x, out, n); break;
    case ABS: loopUn(ABS, x, out, n); break;
    case SQRT: loopUn(SQRT, x, out, n); break;
    case RELU: loopUn(RELU, x, out, n); break;
    case SIGN: loopUn(SIGN, x, out, n); break;
    case FLOOR: loopUn(FLOOR, x, out, n); break;
    default: loopUn(CEIL, x, out, n);
  }
}

// ---- exp (contiguous) -----------------------------------------------------------------------
// exp of float32 computed in float64 and rounded once to float32, as js's Math.exp stored to a
// Float32Array is: e^x = 2^n·e^r, n = round(x·log2 e), r = x − n·ln2 (ln2 split in two, fdlibm's
// constants: n·LN2_HI is exact), e^r by its Taylor series to degree 12 (|r| ≤ ln2/2: truncation
// below 2.5e-16 relative). The float32 result differs from Math.exp's only where e^x lies within
// ~1e-15 (relative) of a float32 rounding midpoint. Inputs are clamped to ±200 (e^±200 is beyond
// float32 both ways: 0 and ∞ after rounding), so 2^n stays a normal double; NaN stays NaN.

const EX_LOG2E: f64 = 1.4426950408889634, EX_LN2_HI: f64 = 6.93147180369123816490e-01, EX_LN2_LO: f64 = 1.90821492927058770002e-10;
const EX_C12: f64 = 1.0 / 479001600.0, EX_C11: f64 = 1.0 / 39916800.0, EX_C10: f64 = 1.0 / 3628800.0, EX_C9: f64 = 1.0 / 362880.0;
const EX_C8: f64 = 1.0 / 40320.0, EX_C7: f64 = 1.0 / 5040.0, EX_C6: f64 = 1.0 / 720.0, EX_C5: f64 = 1.0 / 120.0;
const EX_C4: f64 = 1.0 / 24.0, EX_C3: f64 = 1.0 / 6.0, EX_C2: f64 = 0.5;

/** e^x of two doubles (the lockstep loop below does the same operations per lane). */
@inline function exp64v(x: v128): v128 {
  const xc = f64x2.min(f64x2.max(x, f64x2.splat(-200.0)), f64x2.splat(200.0));
  const n = f64x2.nearest(f64x2.mul(xc, f64x2.splat(EX_LOG2E)));
  const r = f64x2.sub(f64x2.sub(xc, f64x2.mul(n, f64x2.splat(EX_LN2_HI))), f64x2.mul(n, f64x2.splat(EX_LN2_LO)));
  let p = f64x2.splat(EX_C12);
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(EX_C11));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(EX_C10));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(EX_C9));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(EX_C8));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(EX_C7));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(EX_C6));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(EX_C5));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(EX_C4));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(EX_C3));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(EX_C2));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0));
  p = f64x2.add(f64x2.mul(p, r), f64x2.splat(1.0));
  const pw = i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(n)), i64x2.splat(1023)), 52);
  return f64x2.mul(p, pw);
}

/** e^x of four floats: each pair widened to double, e^x, rounded back. */
@inline function expf4(v: v128): v128 {
  const lo = f32x4.demote_f64x2_zero(exp64v(f64x2.promote_low_f32x4(v)));
  const hi = f32x4.demote_f64x2_zero(exp64v(f64x2.promote_low_f32x4(v128.shuffle<i32>(v, v, 2, 3, 2, 3))));
  return v128.shuffle<i32>(lo, hi, 0, 1, 4, 5);
}

/** out[i] = e^x[i], i < n (out may be x). */
export function ew_exp(x: usize, out: usize, n: i32): void {
  let i = 0;
  // Four vectors (eight double pairs) in lockstep (scripts/gen-lockstep.mjs): the chain is latency-bound.
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    // <lockstep ew_exp>
    const v0 = v128.load(x + o);
    const v1 = v128.load(x + o + 16);
    const v2 = v128.load(x + o + 32);
    const v3 = v128.load(x + o + 48);
    const a0 = f64x2.promote_low_f32x4(v0);
    const a1 = f64x2.promote_low_f32x4(v1);
    const a2 = f64x2.promote_low_f32x4(v2);
    const a3 = f64x2.promote_low_f32x4(v3);
    const b0 = f64x2.promote_low_f32x4(v128.shuffle<i32>(v0, v0, 2, 3, 2, 3));
    const b1 = f64x2.promote_low_f32x4(v128.shuffle<i32>(v1, v1, 2, 3, 2, 3));
    const b2 = f64x2.promote_low_f32x4(v128.shuffle<i32>(v2, v2, 2, 3, 2, 3));
    const b3 = f64x2.promote_low_f32x4(v128.shuffle<i32>(v3, v3, 2, 3, 2, 3));
    const axc0 = f64x2.min(f64x2.max(a0, f64x2.splat(-200.0)), f64x2.splat(200.0));
    const axc1 = f64x2.min(f64x2.max(a1, f64x2.splat(-200.0)), f64x2.splat(200.0));
    const axc2 = f64x2.min(f64x2.max(a2, f64x2.splat(-200.0)), f64x2.splat(200.0));
    const axc3 = f64x2.min(f64x2.max(a3, f64x2.splat(-200.0)), f64x2.splat(200.0));
    const bxc0 = f64x2.min(f64x2.max(b0, f64x2.splat(-200.0)), f64x2.splat(200.0));
    const bxc1 = f64x2.min(f64x2.max(b1, f64x2.splat(-200.0)), f64x2.splat(200.0));
    const bxc2 = f64x2.min(f64x2.max(b2, f64x2.splat(-200.0)), f64x2.splat(200.0));
    const bxc3 = f64x2.min(f64x2.max(b3, f64x2.splat(-200.0)), f64x2.splat(200.0));
    const an0 = f64x2.nearest(f64x2.mul(axc0, f64x2.splat(EX_LOG2E)));
    const an1 = f64x2.nearest(f64x2.mul(axc1, f64x2.splat(EX_LOG2E)));
    const an2 = f64x2.nearest(f64x2.mul(axc2, f64x2.splat(EX_LOG2E)));
    const an3 = f64x2.nearest(f64x2.mul(axc3, f64x2.splat(EX_LOG2E)));
    const bn0 = f64x2.nearest(f64x2.mul(bxc0, f64x2.splat(EX_LOG2E)));
    const bn1 = f64x2.nearest(f64x2.mul(bxc1, f64x2.splat(EX_LOG2E)));
    const bn2 = f64x2.nearest(f64x2.mul(bxc2, f64x2.splat(EX_LOG2E)));
    const bn3 = f64x2.nearest(f64x2.mul(bxc3, f64x2.splat(EX_LOG2E)));
    const ar0 = f64x2.sub(f64x2.sub(axc0, f64x2.mul(an0, f64x2.splat(EX_LN2_HI))), f64x2.mul(an0, f64x2.splat(EX_LN2_LO)));
    const ar1 = f64x2.sub(f64x2.sub(axc1, f64x2.mul(an1, f64x2.splat(EX_LN2_HI))), f64x2.mul(an1, f64x2.splat(EX_LN2_LO)));
    const ar2 = f64x2.sub(f64x2.sub(axc2, f64x2.mul(an2, f64x2.splat(EX_LN2_HI))), f64x2.mul(an2, f64x2.splat(EX_LN2_LO)));
    const ar3 = f64x2.sub(f64x2.sub(axc3, f64x2.mul(an3, f64x2.splat(EX_LN2_HI))), f64x2.mul(an3, f64x2.splat(EX_LN2_LO)));
    const br0 = f64x2.sub(f64x2.sub(bxc0, f64x2.mul(bn0, f64x2.splat(EX_LN2_HI))), f64x2.mul(bn0, f64x2.splat(EX_LN2_LO)));
    const br1 = f64x2.sub(f64x2.sub(bxc1, f64x2.mul(bn1, f64x2.splat(EX_LN2_HI))), f64x2.mul(bn1, f64x2.splat(EX_LN2_LO)));
    const br2 = f64x2.sub(f64x2.sub(bxc2, f64x2.mul(bn2, f64x2.splat(EX_LN2_HI))), f64x2.mul(bn2, f64x2.splat(EX_LN2_LO)));
    const br3 = f64x2.sub(f64x2.sub(bxc3, f64x2.mul(bn3, f64x2.splat(EX_LN2_HI))), f64x2.mul(bn3, f64x2.splat(EX_LN2_LO)));
    let ap0 = f64x2.splat(EX_C12);
    let ap1 = f64x2.splat(EX_C12);
    let ap2 = f64x2.splat(EX_C12);
    let ap3 = f64x2.splat(EX_C12);
    let bp0 = f64x2.splat(EX_C12);
    let bp1 = f64x2.splat(EX_C12);
    let bp2 = f64x2.splat(EX_C12);
    let bp3 = f64x2.splat(EX_C12);
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(EX_C11));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(EX_C11));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(EX_C11));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(EX_C11));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(EX_C11));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(EX_C11));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(EX_C11));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(EX_C11));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(EX_C10));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(EX_C10));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(EX_C10));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(EX_C10));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(EX_C10));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(EX_C10));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(EX_C10));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(EX_C10));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(EX_C9));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(EX_C9));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(EX_C9));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(EX_C9));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(EX_C9));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(EX_C9));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(EX_C9));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(EX_C9));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(EX_C8));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(EX_C8));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(EX_C8));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(EX_C8));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(EX_C8));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(EX_C8));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(EX_C8));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(EX_C8));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(EX_C7));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(EX_C7));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(EX_C7));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(EX_C7));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(EX_C7));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(EX_C7));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(EX_C7));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(EX_C7));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(EX_C6));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(EX_C6));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(EX_C6));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(EX_C6));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(EX_C6));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(EX_C6));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(EX_C6));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(EX_C6));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(EX_C5));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(EX_C5));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(EX_C5));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(EX_C5));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(EX_C5));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(EX_C5));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(EX_C5));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(EX_C5));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(EX_C4));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(EX_C4));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(EX_C4));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(EX_C4));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(EX_C4));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(EX_C4));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(EX_C4));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(EX_C4));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(EX_C3));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(EX_C3));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(EX_C3));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(EX_C3));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(EX_C3));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(EX_C3));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(EX_C3));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(EX_C3));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(EX_C2));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(EX_C2));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(EX_C2));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(EX_C2));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(EX_C2));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(EX_C2));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(EX_C2));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(EX_C2));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(1.0));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(1.0));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(1.0));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(1.0));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(1.0));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(1.0));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(1.0));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(1.0));
    ap0 = f64x2.add(f64x2.mul(ap0, ar0), f64x2.splat(1.0));
    ap1 = f64x2.add(f64x2.mul(ap1, ar1), f64x2.splat(1.0));
    ap2 = f64x2.add(f64x2.mul(ap2, ar2), f64x2.splat(1.0));
    ap3 = f64x2.add(f64x2.mul(ap3, ar3), f64x2.splat(1.0));
    bp0 = f64x2.add(f64x2.mul(bp0, br0), f64x2.splat(1.0));
    bp1 = f64x2.add(f64x2.mul(bp1, br1), f64x2.splat(1.0));
    bp2 = f64x2.add(f64x2.mul(bp2, br2), f64x2.splat(1.0));
    bp3 = f64x2.add(f64x2.mul(bp3, br3), f64x2.splat(1.0));
    const ea0 = f64x2.mul(ap0, i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(an0)), i64x2.splat(1023)), 52));
    const ea1 = f64x2.mul(ap1, i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(an1)), i64x2.splat(1023)), 52));
    const ea2 = f64x2.mul(ap2, i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(an2)), i64x2.splat(1023)), 52));
    const ea3 = f64x2.mul(ap3, i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(an3)), i64x2.splat(1023)), 52));
    const eb0 = f64x2.mul(bp0, i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(bn0)), i64x2.splat(1023)), 52));
    const eb1 = f64x2.mul(bp1, i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(bn1)), i64x2.splat(1023)), 52));
    const eb2 = f64x2.mul(bp2, i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(bn2)), i64x2.splat(1023)), 52));
    const eb3 = f64x2.mul(bp3, i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(bn3)), i64x2.splat(1023)), 52));
    v128.store(out + o, v128.shuffle<i32>(f32x4.demote_f64x2_zero(ea0), f32x4.demote_f64x2_zero(eb0), 0, 1, 4, 5));
    v128.store(out + o + 16, v128.shuffle<i32>(f32x4.demote_f64x2_zero(ea1), f32x4.demote_f64x2_zero(eb1), 0, 1, 4, 5));
    v128.store(out + o + 32, v128.shuffle<i32>(f32x4.demote_f64x2_zero(ea2), f32x4.demote_f64x2_zero(eb2), 0, 1, 4, 5));
    v128.store(out + o + 48, v128.shuffle<i32>(f32x4.demote_f64x2_zero(ea3), f32x4.demote_f64x2_zero(eb3), 0, 1, 4, 5));
    // </lockstep>
  }
  for (; i + 4 <= n; i += 4) v128.store(out + (<usize>i << 2), expf4(v128.load(x + (<usize>i << 2))));
  if (i < n) {
    // The last one to three through a vector too, so every element takes the same operations.
    let v = f32x4.splat(0);
    const m = n - i, b = x + (<usize>i << 2);
    v = f32x4.replace_lane(v, 0, load<f32>(b));
    if (m > 1) v = f32x4.replace_lane(v, 1, load<f32>(b + 4));
    if (m > 2) v = f32x4.replace_lane(v, 2, load<f32>(b + 8));
    const e = expf4(v), ob = out + (<usize>i << 2);
    store<f32>(ob, f32x4.extract_lane(e, 0));
    if (m > 1) store<f32>(ob + 4, f32x4.extract_lane(e, 1));
    if (m > 2) store<f32>(ob + 8, f32x4.extract_lane(e, 2));
  }
}

// ---- where --------------------------------------------------------------------------------

@inline function ldv(p: usize, s: i32): v128 { return s != 0 ? v128.load(p) : v128.load32_splat(p); }

/**
 * out = cond != 0 ? a : b over the collapsed shape (operands 0,1,2 = cond, a, b); cond is int32
 * when cint != 0, else float32 (where NaN counts as true and -0 as false, as in js).
 */
export function ew_where(nd: i32, meta: usize, c: usize, cint: i32, a: usize, b: usize, o: usize): void {
  const last = nd - 1;
  const len = dim(meta, last);
  const dc = strd(meta, 0, last), da = strd(meta, 1, last), db = strd(meta, 2, last);
  const vec = (dc | da | db) >>> 1 == 0; // every run stride is 0 or 1
  const sc = <usize>dc << 2, sa = <usize>da << 2, sb = <usize>db << 2;
  const runs = startRuns(meta, last);
  for (let r = 0; r < runs; r++) {
    let pc = c, pa = a, pb = b, i = 0;
    if (vec) {
      for (; i + 4 <= len; i += 4) {
        const cv = ldv(pc, dc);
        const m = cint != 0 ? i32x4.ne(cv, i32x4.splat(0)) : f32x4.ne(cv, f32x4.splat(0));
        v128.store(o, v128.bitselect(ldv(pa, da), ldv(pb, db), m));
        o += 16; pc += sc << 2; pa += sa << 2; pb += sb << 2;
      }
    }
    for (; i < len; i++) {
      const t = cint != 0 ? load<i32>(pc) != 0 : load<f32>(pc) != 0;
      store<u32>(o, t ? load<u32>(pa) : load<u32>(pb));
      o += 4; pc += sc; pa += sa; pb += sb;
    }
    if (r + 1 < runs) {
      const m = bump(meta, last);
      c += delta(meta, 0, m, last);
      a += delta(meta, 1, m, last);
      b += delta(meta, 2, m, last);
    }
  }
}

// ---- strided copy, assign, int32 → float32 --------------------------------------------------

/** n 32-bit words from s (stride ds elements) to d (stride dd elements). */
@inline function runCopy(d: usize, dd: i32, s: usize, ds: i32, n: i32): void {
  let i = 0;
  if (dd == 1 && ds == 1) {
    for (; i + 4 <= n; i += 4) { v128.store(d, v128.load(s)); d += 16; s += 16; }
  } else if (dd == 1 && ds == 0) {
    const v = v128.load32_splat(s);
    for (; i + 4 <= n; i += 4) { v128.store(d, v); d += 16; }
  }
  const sd = <usize>dd << 2, ss = <usize>ds << 2;
  for (; i < n; i++) { store<u32>(d, load<u32>(s)); d += sd; s += ss; }
}

const TILE = 16;

/**
 * A rows×cols block whose source steps sr/sc elements per row/column, into contiguous rows at d,
 * by 16×16 tiles so that a transposed source is read a few cache lines at a time. When sr is 1
 * (a transpose) the 4×4 sub-blocks are read as columns and transposed in registers.
 */
function copyBlock(d: usize, s: usize, sr: i32, sc: i32, rows: i32, cols: i32): void {
  const bsc = <usize>sc << 2, bsr = <usize>sr << 2;
  for (let i0 = 0; i0 < rows; i0 += TILE) {
    const i1 = min(rows, i0 + TILE);
    for (let j0 = 0; j0 < cols; j0 += TILE) {
      const j1 = min(cols, j0 + TILE);
      let i = i0;
      if (sr == 1) {
        for (; i + 4 <= i1; i += 4) {
          let j = j0;
          for (; j + 4 <= j1; j += 4) {
            const p = s + (<usize>i << 2) + <usize>j * bsc;
            const v0 = v128.load(p), v1 = v128.load(p + bsc), v2 = v128.load(p + 2 * bsc), v3 = v128.load(p + 3 * bsc);
            const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5), t1 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
            const t2 = i32x4.shuffle(v2, v3, 0, 4, 1, 5), t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
            const q = d + ((<usize>i * cols + j) << 2), row = <usize>cols << 2;
            v128.store(q, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
            v128.store(q + row, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
            v128.store(q + 2 * row, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
            v128.store(q + 3 * row, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
          }
          for (; j < j1; j++) {
            for (let k = i; k < i + 4; k++) {
              store<u32>(d + ((<usize>k * cols + j) << 2), load<u32>(s + (<usize>k << 2) + <usize>j * bsc));
            }
          }
        }
      }
      for (; i < i1; i++) {
        let q = d + ((<usize>i * cols + j0) << 2);
        let p = s + <usize>i * bsr + <usize>j0 * bsc;
        for (let j = j0; j < j1; j++) { store<u32>(q, load<u32>(p)); q += 4; p += bsc; }
      }
    }
  }
}

/**
 * Contiguous copy of operand 0's strided view (32-bit words, so int32 too). A run stride of 0 or
 * 1 copies runs; any other copies the last two dims as tiled blocks.
 */
export function ew_copy(nd: i32, meta: usize, s: usize, o: usize): void {
  const last = nd - 1;
  const ds = strd(meta, 0, last);
  if (ds >>> 1 == 0 || nd == 1) {
    const len = dim(meta, last);
    const runs = startRuns(meta, last);
    for (let r = 0; r < runs; r++) {
      runCopy(o, 1, s, ds, len);
      o += <usize>len << 2;
      if (r + 1 < runs) s += delta(meta, 0, bump(meta, last), last);
    }
    return;
  }
  const rows = dim(meta, last - 1), cols = dim(meta, last);
  const sr = strd(meta, 0, last - 1);
  const runs = startRuns(meta, last - 1);
  for (let r = 0; r < runs; r++) {
    copyBlock(o, s, sr, ds, rows, cols);
    o += <usize>(rows * cols) << 2;
    if (r + 1 < runs) s += delta(meta, 0, bump(meta, last - 1), last - 1);
  }
}

/** Writes operand 1 (src) into operand 0's strided view (dst), both over the collapsed shape. */
export function ew_assign(nd: i32, meta: usize, d: usize, s: usize): void {
  const last = nd - 1;
  const len = dim(meta, last), dd = strd(meta, 0, last), ds = strd(meta, 1, last);
  const runs = startRuns(meta, last);
  for (let r = 0; r < runs; r++) {
    runCopy(d, dd, s, ds, len);
    if (r + 1 < runs) {
      const m = bump(meta, last);
      d += delta(meta, 0, m, last);
      s += delta(meta, 1, m, last);
    }
  }
}

/**
 * int32 → float32 in place for n words; returns 0 (leaving the rest unconverted) if a value is
 * beyond ±2^24, where float32 would round it and results could differ from js's double math.
 */
export function ew_i2f(p: usize, n: i32): i32 {
  const lim = i32x4.splat(1 << 24), neg = i32x4.splat(-(1 << 24));
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(p);
    if (v128.any_true(v128.or(i32x4.gt_s(v, lim), i32x4.lt_s(v, neg)))) return 0;
    v128.store(p, f32x4.convert_i32x4_s(v));
    p += 16;
  }
  for (; i < n; i++) {
    const v = load<i32>(p);
    if (v > (1 << 24) || v < -(1 << 24)) return 0;
    store<f32>(p, <f32>v);
    p += 4;
  }
  return 1;
}
