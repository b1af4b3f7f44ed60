// AssemblyScript: the per-step gate passes of the fused LSTM (src/backend/rnn.ts) in SIMD, with
// sigmoid and tanh from an exp of their own (Math.exp per element in js was most of the step).
// Pointers are byte addresses of contiguous float32 rows; gates are [B, 4H] in the order i, f, g, o.

// expf as Cephes computes it (the same as attention.as's): x = n·ln2 + r, e^r by a degree-6
// polynomial, 2^n through the exponent bits. Inputs are clamped to [−87, 88], so e^x stays a
// normal float: sigmoid and tanh built on it saturate to their limits, never to NaN.
const LOG2E: f32 = 1.44269504088896341, LN2_HI: f32 = 0.693359375, LN2_LO: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4, P1: f32 = 1.3981999507e-3, P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2, P4: f32 = 1.6666665459e-1, P5: f32 = 5.0000001201e-1;

@inline function expv(x: v128): v128 {
  const xc = f32x4.max(f32x4.min(x, f32x4.splat(88.0)), f32x4.splat(-87.0));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(LOG2E)));
  const r = f32x4.sub(f32x4.sub(xc, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(P0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P5));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  const ni = i32x4.max_s(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(-126));
  return f32x4.mul(p, i32x4.shl(i32x4.add(ni, i32x4.splat(127)), 23));
}

@inline function exps(x: f32): f32 {
  const xc = max(min(x, <f32>88.0), <f32>-87.0);
  const n = nearest(xc * LOG2E);
  const r = xc - n * LN2_HI - n * LN2_LO;
  let p = P0;
  p = p * r + P1;
  p = p * r + P2;
  p = p * r + P3;
  p = p * r + P4;
  p = p * r + P5;
  p = p * r * r + r + 1.0;
  return p * reinterpret<f32>((max(<i32>n, -126) + 127) << 23);
}

const ONE = f32x4.splat(1.0), TWO = f32x4.splat(2.0);

@inline function sigv(x: v128): v128 {
  return f32x4.div(ONE, f32x4.add(ONE, expv(f32x4.neg(x))));
}

/** tanh(x) = 2σ(2x) − 1, with |x| < 0.125 by its odd series (1 − 2/(1 + e^2x) loses digits there). */
@inline function tanhv(x: v128): v128 {
  const big = f32x4.sub(f32x4.div(TWO, f32x4.add(ONE, expv(f32x4.mul(TWO, f32x4.neg(x))))), ONE);
  const x2 = f32x4.mul(x, x);
  // x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835: below 1e-11 absolute error for |x| < 0.125.
  let p = f32x4.splat(<f32>(62.0 / 2835.0));
  p = f32x4.sub(f32x4.mul(p, x2), f32x4.splat(<f32>(17.0 / 315.0)));
  p = f32x4.add(f32x4.mul(p, x2), f32x4.splat(<f32>(2.0 / 15.0)));
  p = f32x4.sub(f32x4.mul(p, x2), f32x4.splat(<f32>(1.0 / 3.0)));
  const small = f32x4.add(x, f32x4.mul(f32x4.mul(p, x2), x));
  return v128.bitselect(small, big, f32x4.lt(f32x4.abs(x), f32x4.splat(0.125)));
}

@inline function sigs(x: f32): f32 {
  return <f32>1.0 / (<f32>1.0 + exps(-x));
}

@inline function tanhs(x: f32): f32 {
  if (abs(x) < <f32>0.125) {
    const x2 = x * x;
    const p = ((<f32>(62.0 / 2835.0) * x2 - <f32>(17.0 / 315.0)) * x2 + <f32>(2.0 / 15.0)) * x2 - <f32>(1.0 / 3.0);
    return x + p * x2 * x;
  }
  return <f32>2.0 / (<f32>1.0 + exps(<f32>-2.0 * x)) - <f32>1.0;
}

/**
 * Forward gate pass, in place on g [B, 4H] (pre-activations without b_hh; bhh [4H] or 0 adds it):
 * activates the gates; c' = f·c + i·g → cn, tanh(c') → tc, h' = o·tanh(c') → h (all [B, H]).
 */
export function lstm_gates_fwd(g: usize, bhh: usize, B: i32, H: i32, cp: usize, cn: usize, tc: usize, h: usize): void {
  const hb = <usize>H << 2, gb = hb << 2;
  const H4 = H & ~3;
  for (let b = 0; b < B; b++) {
    const gi = g + <usize>b * gb, gf = gi + hb, gg = gf + hb, go = gg + hb;
    const s = <usize>b * hb;
    let j = 0;
    for (; j < H4; j += 4) {
      const o = <usize>j << 2;
      let xi = v128.load(gi + o), xf = v128.load(gf + o), xg = v128.load(gg + o), xo = v128.load(go + o);
      if (bhh) {
        xi = f32x4.add(xi, v128.load(bhh + o)); xf = f32x4.add(xf, v128.load(bhh + hb + o));
        xg = f32x4.add(xg, v128.load(bhh + 2 * hb + o)); xo = f32x4.add(xo, v128.load(bhh + 3 * hb + o));
      }
      const i = sigv(xi), f = sigv(xf), z = tanhv(xg), q = sigv(xo);
      const c = f32x4.add(f32x4.mul(f, v128.load(cp + s + o)), f32x4.mul(i, z));
      const t = tanhv(c);
      v128.store(cn + s + o, c);
      v128.store(tc + s + o, t);
      v128.store(h + s + o, f32x4.mul(q, t));
      v128.store(gi + o, i); v128.store(gf + o, f); v128.store(gg + o, z); v128.store(go + o, q);
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      let xi = load<f32>(gi + o), xf = load<f32>(gf + o), xg = load<f32>(gg + o), xo = load<f32>(go + o);
      if (bhh) {
        xi += load<f32>(bhh + o); xf += load<f32>(bhh + hb + o); xg += load<f32>(bhh + 2 * hb + o); xo += load<f32>(bhh + 3 * hb + o);
      }
      const i = sigs(xi), f = sigs(xf), z = tanhs(xg), q = sigs(xo);
      const c = f * load<f32>(cp + s + o) + i * z;
      const t = tanhs(c);
      store<f32>(cn + s + o, c);
      store<f32>(tc + s + o, t);
      store<f32>(h + s + o, q * t);
      store<f32>(gi + o, i); store<f32>(gf + o, f); store<f32>(gg + o, z); store<f32>(go + o, q);
    }
  }
}

/**
 * Backward gate pass: dh = gy + dhr (dhr [B, H] or 0); dc [B, H] in: the gradient reaching c_t,
 * out: the one reaching c_{t−1}; dG [B, 4H] out: the pre-activation gradients. gates are the
 * forward's activated ones, cp = c_{t−1}, tc = tanh(c_t).
 */
export function lstm_gates_bwd(gates: usize, cp: usize, tc: usize, gy: usize, dhr: usize, dc: usize, dG: usize, B: i32, H: i32): void {
  const hb = <usize>H << 2, gb = hb << 2;
  const H4 = H & ~3;
  for (let b = 0; b < B; b++) {
    const gi = gates + <usize>b * gb, gf = gi + hb, gg = gf + hb, go = gg + hb;
    const di = dG + <usize>b * gb, df = di + hb, dg = df + hb, dO = dg + hb;
    const s = <usize>b * hb;
    let j = 0;
    for (; j < H4; j += 4) {
      const o = <usize>j << 2;
      const i = v128.load(gi + o), f = v128.load(gf + o), z = v128.load(gg + o), q = v128.load(go + o);
      let dh = v128.load(gy + s + o);
      if (dhr) dh = f32x4.add(dh, v128.load(dhr + s + o));
      const t = v128.load(tc + s + o);
      const dct = f32x4.add(v128.load(dc + s + o), f32x4.mul(f32x4.mul(dh, q), f32x4.sub(ONE, f32x4.mul(t, t))));
      v128.store(di + o, f32x4.mul(f32x4.mul(dct, z), f32x4.mul(i, f32x4.sub(ONE, i))));
      v128.store(df + o, f32x4.mul(f32x4.mul(dct, v128.load(cp + s + o)), f32x4.mul(f, f32x4.sub(ONE, f))));
      v128.store(dg + o, f32x4.mul(f32x4.mul(dct, i), f32x4.sub(ONE, f32x4.mul(z, z))));
      v128.store(dO + o, f32x4.mul(f32x4.mul(dh, t), f32x4.mul(q, f32x4.sub(ONE, q))));
      v128.store(dc + s + o, f32x4.mul(dct, f));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const i = load<f32>(gi + o), f = load<f32>(gf + o), z = load<f32>(gg + o), q = load<f32>(go + o);
      let dh = load<f32>(gy + s + o);
      if (dhr) dh += load<f32>(dhr + s + o);
      const t = load<f32>(tc + s + o);
      const dct = load<f32>(dc + s + o) + dh * q * (<f32>1.0 - t * t);
      store<f32>(di + o, dct * z * i * (<f32>1.0 - i));
      store<f32>(df + o, dct * load<f32>(cp + s + o) * f * (<f32>1.0 - f));
      store<f32>(dg + o, dct * i * (<f32>1.0 - z * z));
      store<f32>(dO + o, dh * t * q * (<f32>1.0 - q));
      store<f32>(dc + s + o, dct * f);
    }
  }
}
