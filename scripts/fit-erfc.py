#!/usr/bin/env python3
"""Fits the polynomial of the float32 GELU kernel's erfc (src/backend/wasm/assembly/gelu.as):
erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2), z in [0, 10], P of degree 10, by least squares in a
Chebyshev basis of u = 2t − 1 against Python's float64 math.erfc, then converted to powers of t.
Prints the coefficients as float32 literals and the fit's largest error of ln erfc (absolute,
so it is the relative error of erfc). Run: /usr/bin/python3 scripts/fit-erfc.py (numpy)."""
import math

import numpy as np

z = np.linspace(0, 10, 200001)
t = 1 / (1 + 0.5 * z)
f = np.array([math.log(math.erfc(v)) for v in z]) + z * z - np.log(t)
c = np.polynomial.chebyshev.chebfit(2 * t - 1, f, 10)
print('max |error| of ln erfc:', float(np.abs(np.polynomial.chebyshev.chebval(2 * t - 1, c) - f).max()))
pu = np.polynomial.chebyshev.cheb2poly(c)
pt = np.polynomial.polynomial.Polynomial(pu)(np.polynomial.polynomial.Polynomial([-1, 2])).coef
print(', '.join(f'C{i}: f32 = {float(np.float32(a))!r}' for i, a in enumerate(pt)))
