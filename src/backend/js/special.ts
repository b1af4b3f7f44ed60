// Special functions the reference kernels need and Math lacks. erf to float64 accuracy (about
// 1e-16 relative): exact GELU is x·Φ(x) = x·(1 + erf(x/√2))/2, and PyTorch's fixtures are float64.

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/** erf(x) = 2/√π ∫₀ˣ e^(−t²) dt. */
export function erf(x: number): number {
  if (x !== x) return NaN;
  const a = Math.abs(x);
  // Beyond 6, 1 − erf(x) < 2e-17: erf rounds to ±1 in float64.
  if (a >= 6) return x > 0 ? 1 : -1;
  let r: number;
  if (a < 0.5) {
    // Small |x| (most GELU inputs): the Maclaurin series 2/√π Σ (−1)ⁿ x^(2n+1) / (n!(2n+1)), no
    // exp; the first term dominates, so the alternating sum loses nothing.
    const x2 = a * a;
    let p = a, sum = a;
    for (let n = 1; n < 40; n++) {
      p *= -x2 / n;
      const term = p / (2 * n + 1);
      sum += term;
      if (Math.abs(term) < sum * 1e-17) break;
    }
    r = TWO_OVER_SQRT_PI * sum;
  } else if (a < 1.5) {
    // erf(x) = 2/√π · e^(−x²) · Σₙ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): every term positive, so no
    // cancellation; the ratio of consecutive terms is 2x²/(2n+3), at most ~30 terms below 1.5.
    const x2 = a * a;
    let term = a, sum = a;
    for (let n = 0; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 3);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    r = TWO_OVER_SQRT_PI * expNegSquare(a) * sum;
  } else {
    r = 1 - erfcLarge(a);
  }
  return x < 0 ? -r : r;
}

/** erfc(x) = 1 − erf(x), without the cancellation of 1 − erf(x) for large x (GELU's tables need Φ far out). */
export function erfc(x: number): number {
  if (x !== x) return NaN;
  if (x < 1.5) return 1 - erf(x);
  return x >= 27 ? 0 : erfcLarge(x);
}

/** erfc(a) for a ≥ 1.5 from its continued fraction e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …)))),
 *  evaluated from the tail up. */
function erfcLarge(a: number): number {
  // Depth needed for the last bit falls like 1/a² (measured against libm: 73 levels at 1.5, 40 at
  // 2, 16 at 3, 7 at 4); 200/a² + 4 keeps a margin everywhere.
  let f = a;
  for (let k = Math.ceil(200 / (a * a)) + 4; k >= 1; k--) f = a + k / 2 / f;
  return (ONE_OVER_SQRT_PI * expNegSquare(a)) / f;
}

/** e^(−a²) without the rounding of a² (which costs a²·eps relatively): a = s + t with s on a
 *  2^-12 grid, so s² is exact and a² = s² + t·(a + s). */
function expNegSquare(a: number): number {
  const s = Math.round(a * 4096) / 4096;
  return Math.exp(-s * s) * Math.exp(-(a - s) * (a + s));
}
