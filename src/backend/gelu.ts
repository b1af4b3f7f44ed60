// Exact GELU, x·Φ(x), and its derivative Φ(x) + x·φ(x), for float32 in one pass each, instead of
// the composite's erf kernel (a float64-accurate series, tens of ns per element) and six more
// whole-tensor elementwise passes forward and backward (the gelu of a Transformer's feed-forward
// layer is its largest elementwise tensor: [N·T, 4·d]).
// Φ and φ come from tables on a grid of step 1/64 over [−10, 10], filled once from the float64
// erfc, and a 4th-order Taylor expansion about the nearest grid point (|d| ≤ 1/128). The
// derivatives of φ are Hermite polynomials times φ, φ⁽ᵏ⁾(x) = (−1)ᵏ Heₖ(x) φ(x), so
//   Φ(x₀+d) = Φ₀ + φ₀·(d − x₀d²/2 + (x₀²−1)d³/6 − (x₀³−3x₀)d⁴/24)
//   φ(x₀+d) = φ₀·(1 − x₀d + (x₀²−1)d²/2 − (x₀³−3x₀)d³/6 + (x₀⁴−6x₀²+3)d⁴/24)
// with a truncation error below 1e-12 relative over the grid, far under float32's rounding (the
// arithmetic is float64; the result is rounded once). Beyond the grid Φ is 0 or 1 to float64
// (Φ(−10) ≈ 7.6e-24), so gelu is x·0 or x, and NaN stays NaN. float64 tensors decline: the op's
// composite over the float64 erf is their reference (and differentiates again).

import { allocate } from '../dtype.js';
import { DECLINE, type Decline, type View } from './backend.js';
import { erfc } from './js/special.js';
import { isContiguous } from './js/strided.js';

const LO = -10;
const HI = 10;
const PER_UNIT = 64;
const H = 1 / PER_UNIT;
const SIZE = (HI - LO) * PER_UNIT + 1;

let PHI: Float64Array | null = null; // Φ at the grid points
let PDF: Float64Array | null = null; // φ at the grid points

function tables(): [Float64Array, Float64Array] {
  if (!PHI || !PDF) {
    PHI = new Float64Array(SIZE);
    PDF = new Float64Array(SIZE);
    for (let i = 0; i < SIZE; i++) {
      const x = LO + i * H;
      PHI[i] = 0.5 * erfc(-x * Math.SQRT1_2);
      PDF[i] = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    }
  }
  return [PHI, PDF];
}

const flat = (v: View, n: number): boolean => isContiguous(v) && v.shape.reduce((a, b) => a * b, 1) === n;

/** gelu(x) = x·Φ(x) of a contiguous float32 x → a new float32 storage; declines anything else. */
export function geluForward(x: View): Float32Array | Decline {
  if (!(x.data instanceof Float32Array)) return DECLINE;
  const n = x.shape.reduce((a, b) => a * b, 1);
  if (!flat(x, n)) return DECLINE;
  const [P, F] = tables();
  const xd = x.data, x0 = x.offset;
  const out = allocate('float32', n) as Float32Array;
  for (let i = 0; i < n; i++) {
    const v = xd[x0 + i]!;
    if (v > LO && v < HI) {
      const j = Math.round((v - LO) * PER_UNIT);
      const g = LO + j * H, d = v - g, g2 = g * g;
      const poly = d * (1 + d * (-0.5 * g + d * ((g2 - 1) / 6 - d * ((g2 - 3) * g / 24))));
      out[i] = v * (P[j]! + F[j]! * poly);
    } else {
      out[i] = v >= HI ? v : v * 0; // NaN → NaN, −∞ → NaN (as x·Φ(x) is in PyTorch)
    }
  }
  return out;
}

/** grad · gelu′(x) = grad · (Φ(x) + x·φ(x)) for contiguous float32 x and grad of the same size. */
export function geluBackward(x: View, grad: View): Float32Array | Decline {
  if (!(x.data instanceof Float32Array) || !(grad.data instanceof Float32Array)) return DECLINE;
  const n = x.shape.reduce((a, b) => a * b, 1);
  if (!flat(x, n) || !flat(grad, n)) return DECLINE;
  const [P, F] = tables();
  const xd = x.data, x0 = x.offset, gd = grad.data, g0 = grad.offset;
  const out = allocate('float32', n) as Float32Array;
  for (let i = 0; i < n; i++) {
    const v = xd[x0 + i]!;
    let dydx: number;
    if (v > LO && v < HI) {
      const j = Math.round((v - LO) * PER_UNIT);
      const g = LO + j * H, d = v - g, g2 = g * g;
      const he3 = (g2 - 3) * g;
      const phi = P[j]! + F[j]! * d * (1 + d * (-0.5 * g + d * ((g2 - 1) / 6 - d * (he3 / 24))));
      const pdf = F[j]! * (1 + d * (-g + d * ((g2 - 1) / 2 + d * (-he3 / 6 + d * ((g2 * g2 - 6 * g2 + 3) / 24)))));
      dydx = phi + v * pdf;
    } else {
      dydx = v >= HI ? 1 : v <= LO ? 0 : v; // beyond the grid φ(x)·x < 1e-21; NaN stays NaN
    }
    out[i] = gd[g0 + i]! * dydx;
  }
  return out;
}
