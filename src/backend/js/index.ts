// The reference backend: every primitive in plain TypeScript, generic over dtype. It is the
// ground truth other backends are tested against, and the fallback for anything they lack.

import { allocate, type DType, type TypedArray } from '../../dtype.js';
import { convOutSize, type Backend, type BinaryOp, type Conv2dGeometry, type Kernels, type ReduceOp, type UnaryOp, type View } from '../backend.js';
import { isContiguous, offsets, sizeOf, viewOffsets } from './strided.js';
import { matmul } from './matmul.js';
import { forEachRun2 } from './loops.js';
import { jsFused } from './fused.js';
import { luFactor, luSolve } from './linalg.js';
import { argsort } from './sort.js';
import { erf } from './special.js';

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Nearest integer, ties to even (torch.round, IEEE roundTiesToEven); ±0, ±Inf and NaN unchanged. */
function roundHalfEven(x: number): number {
  const r = Math.round(x); // ties toward +Inf
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r === 0 ? x * 0 : r;
}

const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  relu: (x) => (x > 0 || x !== x ? x : 0), // NaN propagates, as in PyTorch
  sigmoid,
  tanh: Math.tanh,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN),
  floor: Math.floor,
  ceil: Math.ceil,
  round: roundHalfEven,
  sin: Math.sin,
  cos: Math.cos,
  erf,
};

// maximum/minimum propagate NaN like PyTorch.
const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.pow(a, b),
  maximum: (a, b) => (a !== a || b !== b ? NaN : a > b ? a : b),
  minimum: (a, b) => (a !== a || b !== b ? NaN : a < b ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  reluBackward: (a, b) => (b > 0 ? a : 0),
};

function unary(op: UnaryOp, x: View, outDtype: DType): TypedArray {
  const f = UNARY[op];
  const n = sizeOf(x.shape);
  const out = allocate(outDtype, n);
  const d = x.data;
  if (isContiguous(x)) {
    const o = x.offset;
    if (op === 'relu') for (let i = 0; i < n; i++) { const v = d[o + i]; out[i] = v > 0 || v !== v ? v : 0; }
    else if (op === 'neg') for (let i = 0; i < n; i++) out[i] = -d[o + i];
    else for (let i = 0; i < n; i++) out[i] = f(d[o + i]);
  } else if (n > 0) {
    forEachRun2(x.shape, x.strides, x.offset, x.strides, x.offset, (o, len, ix, dx) => {
      for (let j = 0; j < len; j++, ix += dx) out[o + j] = f(d[ix]);
    });
  }
  return out;
}

function binary(op: BinaryOp, a: View, b: View, shape: readonly number[], outDtype: DType): TypedArray {
  const n = sizeOf(shape);
  const out = allocate(outDtype, n);
  const ad = a.data;
  const bd = b.data;
  const aScalar = sizeOf(a.shape) === 1 || a.strides.every((s) => s === 0);
  const bScalar = sizeOf(b.shape) === 1 || b.strides.every((s) => s === 0);
  const intDiv = outDtype === 'int32' && op === 'div';
  // Hot paths: both contiguous, or one side a scalar. The switch keeps each loop monomorphic.
  if (!intDiv && isContiguous(a) && isContiguous(b) && !aScalar && !bScalar) {
    const ao = a.offset, bo = b.offset;
    switch (op) {
      case 'add': for (let i = 0; i < n; i++) out[i] = ad[ao + i] + bd[bo + i]; return out;
      case 'sub': for (let i = 0; i < n; i++) out[i] = ad[ao + i] - bd[bo + i]; return out;
      case 'mul': for (let i = 0; i < n; i++) out[i] = ad[ao + i] * bd[bo + i]; return out;
      case 'div': for (let i = 0; i < n; i++) out[i] = ad[ao + i] / bd[bo + i]; return out;
      default: { const f = BINARY[op]; for (let i = 0; i < n; i++) out[i] = f(ad[ao + i], bd[bo + i]); return out; }
    }
  }
  if (!intDiv && bScalar && isContiguous(a)) {
    const ao = a.offset;
    const s = bd[b.offset];
    switch (op) {
      case 'add': for (let i = 0; i < n; i++) out[i] = ad[ao + i] + s; return out;
      case 'sub': for (let i = 0; i < n; i++) out[i] = ad[ao + i] - s; return out;
      case 'mul': for (let i = 0; i < n; i++) out[i] = ad[ao + i] * s; return out;
      case 'div': for (let i = 0; i < n; i++) out[i] = ad[ao + i] / s; return out;
      default: { const f = BINARY[op]; for (let i = 0; i < n; i++) out[i] = f(ad[ao + i], s); return out; }
    }
  }
  if (intDiv) {
    // Integer division truncates toward zero like torch.div(..., rounding_mode='trunc').
    const ao = offsets(shape, a.strides, a.offset);
    const bo = offsets(shape, b.strides, b.offset);
    for (let i = 0; i < n; i++) out[i] = Math.trunc(ad[ao[i]] / bd[bo[i]]);
    return out;
  }
  if (n === 0) return out;
  const f = BINARY[op];
  // Broadcast or strided operands: runs along the last dim, one specialised loop per common op.
  forEachRun2(shape, a.strides, a.offset, b.strides, b.offset, (o, len, ia, da, ib, db) => {
    switch (op) {
      case 'add': for (let j = 0; j < len; j++, ia += da, ib += db) out[o + j] = ad[ia] + bd[ib]; return;
      case 'sub': for (let j = 0; j < len; j++, ia += da, ib += db) out[o + j] = ad[ia] - bd[ib]; return;
      case 'mul': for (let j = 0; j < len; j++, ia += da, ib += db) out[o + j] = ad[ia] * bd[ib]; return;
      case 'div': for (let j = 0; j < len; j++, ia += da, ib += db) out[o + j] = ad[ia] / bd[ib]; return;
      default: for (let j = 0; j < len; j++, ia += da, ib += db) out[o + j] = f(ad[ia], bd[ib]);
    }
  });
  return out;
}

function where(c: View, a: View, b: View, shape: readonly number[], outDtype: DType): TypedArray {
  const n = sizeOf(shape);
  const out = allocate(outDtype, n);
  const co = offsets(shape, c.strides, c.offset);
  const ao = offsets(shape, a.strides, a.offset);
  const bo = offsets(shape, b.strides, b.offset);
  // Loads hoisted: a tensor's .data is an accessor.
  const cd = c.data, ad = a.data, bd = b.data;
  for (let i = 0; i < n; i++) out[i] = cd[co[i]] !== 0 ? ad[ao[i]] : bd[bo[i]];
  return out;
}

function copy(x: View, outDtype: DType): TypedArray {
  const n = sizeOf(x.shape);
  const out = allocate(outDtype, n);
  const toInt = outDtype === 'int32';
  if (isContiguous(x) && !toInt) {
    out.set(x.data.subarray(x.offset, x.offset + n));
    return out;
  }
  const off = viewOffsets(x);
  const d = x.data;
  if (toInt) for (let i = 0; i < n; i++) out[i] = Math.trunc(d[off[i]]);
  else for (let i = 0; i < n; i++) out[i] = d[off[i]];
  return out;
}

function assign(dst: View, src: View): void {
  const n = sizeOf(dst.shape);
  if (isContiguous(dst) && isContiguous(src) && sizeOf(src.shape) === n) {
    dst.data.set(src.data.subarray(src.offset, src.offset + n), dst.offset);
    return;
  }
  const d = viewOffsets(dst);
  const s = offsets(dst.shape, src.strides, src.offset);
  const dd = dst.data, sd = src.data;
  for (let i = 0; i < n; i++) dd[d[i]] = sd[s[i]];
}

function reduce(op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): TypedArray {
  const keptShape: number[] = [], keptStrides: number[] = [], redShape: number[] = [], redStrides: number[] = [];
  x.shape.forEach((d, i) => {
    if (axes.includes(i)) { redShape.push(d); redStrides.push(x.strides[i]); }
    else { keptShape.push(d); keptStrides.push(x.strides[i]); }
  });
  const outer = offsets(keptShape, keptStrides, x.offset);
  const inner = offsets(redShape, redStrides, 0);
  const out = allocate(outDtype, outer.length);
  const d = x.data;
  const m = inner.length;
  for (let o = 0; o < outer.length; o++) {
    const base = outer[o];
    let acc: number;
    if (op === 'sum') { acc = 0; for (let r = 0; r < m; r++) acc += d[base + inner[r]]; }
    else if (op === 'prod') { acc = 1; for (let r = 0; r < m; r++) acc *= d[base + inner[r]]; }
    else if (op === 'max') {
      acc = -Infinity;
      for (let r = 0; r < m; r++) { const v = d[base + inner[r]]; if (v > acc || v !== v) { acc = v; if (v !== v) break; } }
    } else {
      acc = Infinity;
      for (let r = 0; r < m; r++) { const v = d[base + inner[r]]; if (v < acc || v !== v) { acc = v; if (v !== v) break; } }
    }
    out[o] = acc;
  }
  return out;
}

function argReduce(op: 'argmax' | 'argmin', x: View, axis: number): Int32Array {
  const keptShape = x.shape.filter((_, i) => i !== axis);
  const keptStrides = x.strides.filter((_, i) => i !== axis);
  const outer = offsets(keptShape, keptStrides, x.offset);
  const len = x.shape[axis];
  const st = x.strides[axis];
  const out = new Int32Array(outer.length);
  const d = x.data;
  const isMax = op === 'argmax';
  for (let o = 0; o < outer.length; o++) {
    let best = d[outer[o]];
    let bi = 0;
    if (best === best) {
      for (let r = 1; r < len; r++) {
        const v = d[outer[o] + r * st];
        if (v !== v) { bi = r; break; } // NaN wins, like PyTorch
        if (isMax ? v > best : v < best) { best = v; bi = r; }
      }
    }
    out[o] = bi;
  }
  return out;
}

/** index_select along dim 0 of a contiguous x: whole rows are copied, not elements. */
function gatherRows(x: View, index: View): TypedArray | null {
  if (!isContiguous(x) || x.shape.length === 0) return null;
  for (let k = 1; k < x.shape.length; k++) if (index.strides[k] !== 0 || index.shape[k] !== x.shape[k]) return null;
  const rows = index.shape[0];
  const inner = sizeOf(x.shape.slice(1));
  const out = allocate(dtypeOfArray(x.data), rows * inner);
  for (let i = 0; i < rows; i++) {
    const start = x.offset + index.data[index.offset + i * index.strides[0]] * inner;
    out.set(x.data.subarray(start, start + inner), i * inner);
  }
  return out;
}

function gather(x: View, axis: number, index: View): TypedArray {
  if (axis === 0) {
    const rows = gatherRows(x, index);
    if (rows) return rows;
  }
  const n = sizeOf(index.shape);
  const out = allocate(dtypeOfArray(x.data), n);
  const io = viewOffsets(index);
  // Position in x for every index element, with the gathered axis contribution replaced.
  const xo = offsets(index.shape, x.strides.map((s, i) => (i === axis ? 0 : s)), x.offset);
  const st = x.strides[axis];
  const xd = x.data, id = index.data;
  for (let i = 0; i < n; i++) out[i] = xd[xo[i] + id[io[i]] * st];
  return out;
}

function scatterAdd(shape: readonly number[], axis: number, index: View, src: View, outDtype: DType): TypedArray {
  const out = allocate(outDtype, sizeOf(shape));
  const strides = contiguous(shape);
  const n = sizeOf(index.shape);
  const io = viewOffsets(index);
  const so = offsets(index.shape, src.strides, src.offset);
  const oo = offsets(index.shape, strides.map((s, i) => (i === axis ? 0 : s)), 0);
  const st = strides[axis];
  const id = index.data, sd = src.data;
  for (let i = 0; i < n; i++) out[oo[i] + id[io[i]] * st] += sd[so[i]];
  return out;
}

function contiguous(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

function dtypeOfArray(a: TypedArray): DType {
  return a instanceof Float64Array ? 'float64' : a instanceof Int32Array ? 'int32' : 'float32';
}

// Re-exported for the backends built on these kernels (wasm/conv.ts imports it from here).
export { convOutSize };

/** Where row r (= (c*kh + i)*kw + j) of batch n starts in a columns array of either layout. */
function colsRow(batchInner: boolean, n: number, r: number, N: number, R: number, L: number): number {
  return (batchInner ? r * N + n : n * R + r) * L;
}

function im2col(x: View, g: Conv2dGeometry, padValue: number, batchInner = false): TypedArray {
  const [N, C, H, W] = x.shape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const OH = convOutSize(H, kh, sh, ph, dh), OW = convOutSize(W, kw, sw, pw, dw);
  const L = OH * OW, R = C * kh * kw;
  const out = allocate(dtypeOfArray(x.data), N * R * L);
  const [xn, xc, xh, xw] = x.strides;
  const d = x.data;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = x.offset + n * xn + c * xc;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          let p = colsRow(batchInner, n, (c * kh + i) * kw + j, N, R, L);
          for (let oh = 0; oh < OH; oh++) {
            const h = oh * sh - ph + i * dh;
            if (h < 0 || h >= H) { for (let ow = 0; ow < OW; ow++) out[p++] = padValue; continue; }
            const rowBase = base + h * xh;
            for (let ow = 0; ow < OW; ow++) {
              const w = ow * sw - pw + j * dw;
              out[p++] = w < 0 || w >= W ? padValue : d[rowBase + w * xw];
            }
          }
        }
      }
    }
  }
  return out;
}

function col2im(cols: View, g: Conv2dGeometry, inputShape: readonly [number, number, number, number], batchInner = false): TypedArray {
  const [N, C, H, W] = inputShape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const OH = convOutSize(H, kh, sh, ph, dh), OW = convOutSize(W, kw, sw, pw, dw);
  const L = OH * OW, R = C * kh * kw;
  const out = allocate(dtypeOfArray(cols.data), N * C * H * W);
  const src = isContiguous(cols) ? cols.data.subarray(cols.offset) : copy(cols, dtypeOfArray(cols.data));
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * H * W;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          let p = colsRow(batchInner, n, (c * kh + i) * kw + j, N, R, L);
          for (let oh = 0; oh < OH; oh++) {
            const h = oh * sh - ph + i * dh;
            if (h < 0 || h >= H) { p += OW; continue; }
            for (let ow = 0; ow < OW; ow++, p++) {
              const w = ow * sw - pw + j * dw;
              if (w >= 0 && w < W) out[base + h * W + w] += src[p];
            }
          }
        }
      }
    }
  }
  return out;
}

export const jsKernels = {
  unary, binary, where, copy, assign, reduce, argReduce, matmul, gather, scatterAdd, im2col, col2im,
  luFactor, luSolve, argsort,
} satisfies Kernels;

export const jsBackend: Backend = {
  name: 'js',
  device: 'cpu',
  fused: jsFused,
  available: () => ({ ok: true, reason: 'pure TypeScript reference kernels, always available' }),
  kernels: jsKernels,
};
