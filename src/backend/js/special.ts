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
  if (a < 3) {
    // erf(x) = 2/√π · e^(−x²) · Σₙ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): every term positive, so no
    // cancellation; the ratio of consecutive terms is 2x²/(2n+3), at most ~60 terms below 3.
    const x2 = a * a;
    let term = a, sum = a;
    for (let n = 0; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 3);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    r = TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  } else {
    r = 1 - erfcLarge(a);
  }
  return x < 0 ? -r : r;
}

/** erfc(a) for a ≥ 3 from its continued fraction e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …)))),
 *  evaluated from the tail up; 60 levels are far past convergence at a ≥ 3. */
function erfcLarge(a: number): number {
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + k / 2 / f;
  return (ONE_OVER_SQRT_PI * Math.exp(-a * a)) / f;
}
