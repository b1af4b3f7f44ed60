// Shape arithmetic: broadcasting, strides, axis normalisation. Pure functions on number arrays.

import { AxisError, ShapeError } from './errors.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function shapeEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function fmtShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

/** NumPy/PyTorch broadcasting of any number of shapes; throws naming the op and the shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const nd = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = nd - s.length + i;
      const d = s[i];
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) {
        throw new ShapeError(
          `${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together ` +
            `(dimension ${j - nd} is ${out[j]} in one and ${d} in another; sizes must match or be 1)`,
        );
      }
    }
  }
  return out;
}

/** Normalise a possibly negative axis into [0, ndim). */
export function normAxis(op: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis) || axis < -Math.max(ndim, 1) || axis >= Math.max(ndim, 1)) {
    throw new AxisError(`${op}: dim ${axis} is out of range for a tensor of ${ndim} dimensions (expected an integer in [${-Math.max(ndim, 1)}, ${Math.max(ndim, 1) - 1}])`);
  }
  return axis < 0 ? axis + Math.max(ndim, 1) : axis;
}

/** Normalise dims (undefined = all); sorted, unique, in range. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, ndim: number): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = list.map((a) => (ndim === 0 ? (normAxis(op, a, 0), -1) : normAxis(op, a, ndim))).filter((a) => a >= 0);
  const set = new Set(out);
  if (set.size !== out.length) throw new AxisError(`${op}: dim ${fmtShape(list)} contains a repeated dimension`);
  return [...set].sort((a, b) => a - b);
}

export function checkShape(op: string, shape: Shape): number[] {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${op}: invalid shape ${fmtShape(shape)}; every size must be a non-negative integer`);
    }
  }
  return [...shape];
}
