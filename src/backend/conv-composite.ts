// The fused conv2d kernels (fused.ts) spelled out as the primitive kernel calls that src/ops/conv.ts
// makes for a groups = 1 convolution, with the same shapes and strides, on any backend's kernels.
// A backend whose own fused conv kernels decline a call (other dtypes, empty sizes, shapes that take
// another matmul path) puts this behind them (fallbackTo), so its results never differ from the
// composite's; the conv tests use it as their oracle.

import { convOutSize, viewDType, type Conv2dGeometry, type Kernels, type Storage, type View } from './backend.js';
import type { ConvFusedKernels } from './fused.js';

/** Sizes of a groups = 1 convolution; L = OH·OW. */
export interface ConvDims {
  N: number; C: number; H: number; W: number; O: number; K: number; OH: number; OW: number; L: number;
}

export function convDims(inputShape: readonly number[], O: number, g: Conv2dGeometry): ConvDims {
  const [N, C, H, W] = inputShape;
  const OH = convOutSize(H, g.kernel[0], g.stride[0], g.padding[0], g.dilation[0]);
  const OW = convOutSize(W, g.kernel[1], g.stride[1], g.padding[1], g.dilation[1]);
  return { N, C, H, W, O, K: C * g.kernel[0] * g.kernel[1], OH, OW, L: OH * OW };
}

/** grad [N,O,OH,OW] seen as [O,N,OH,OW]: the permute whose reshape to [O, N·L] the composite copies. */
export function gradTransposed<S extends Storage>(grad: View<S>): View<S> {
  const [N, O, OH, OW] = grad.shape, [sn, so, sh, sw] = grad.strides;
  return { data: grad.data, shape: [O, N, OH, OW], strides: [so, sn, sh, sw], offset: grad.offset };
}

const mat = <S extends Storage>(data: S, rows: number, cols: number, sr: number, sc: number, offset = 0): View<S> =>
  ({ data, shape: [1, rows, cols], strides: [0, sr, sc], offset });

export function compositeConv<S extends Storage>(k: Kernels<S>): ConvFusedKernels<S> {
  return {
    conv2d(x, weight, bias, g, relu = false) {
      const dt = viewDType(x);
      const d = convDims(x.shape, weight.shape[0], g);
      const NL = d.N * d.L;
      const cols = k.im2col(x, g, 0, true);
      const prod = k.matmul(mat(weight.data, d.O, d.K, weight.strides[0], weight.strides[1], weight.offset), mat(cols, d.K, NL, NL, 1), dt);
      const shape = [d.N, d.O, d.OH, d.OW];
      const out: View<S> = { data: prod, shape, strides: [d.L, NL, d.OW, 1], offset: 0 };
      const y = bias
        ? k.binary('add', out, { data: bias.data, shape, strides: [0, bias.strides[0], 0, 0], offset: bias.offset }, shape, dt)
        : k.copy(out, dt);
      return relu ? k.unary('relu', { data: y, shape, strides: contiguousStrides(shape), offset: 0 }, dt) : y;
    },
    conv2dBackward(x, grad, weight, mask, g, want) {
      const dt = viewDType(grad);
      const d = convDims(x.shape, weight.shape[0], g);
      const NL = d.N * d.L;
      // The masked gradient is a fresh contiguous [N,O,OH,OW], as relu's backward hands it to conv2d's.
      const gm: View<S> = mask ? { data: k.binary('reluBackward', grad, mask, grad.shape, dt), shape: grad.shape, strides: contiguousStrides(grad.shape), offset: 0 } : grad;
      const gT = want.input || want.weight ? k.copy(gradTransposed(gm), dt) : null;
      let input: S | null = null, dw: S | null = null;
      if (want.input && gT) {
        const dcols = k.matmul(mat(weight.data, d.K, d.O, weight.strides[1], weight.strides[0], weight.offset), mat(gT, d.O, NL, NL, 1), dt);
        input = k.col2im({ data: dcols, shape: [d.K, d.N, d.L], strides: [NL, d.L, 1], offset: 0 }, g, [d.N, d.C, d.H, d.W], true);
      }
      if (want.weight && gT) {
        const cols = k.im2col(x, g, 0, true);
        dw = k.matmul(mat(gT, d.O, NL, NL, 1), mat(cols, NL, d.K, 1, NL), dt);
      }
      const bias = want.bias ? k.reduce('sum', gm, [0, 2, 3], dt) : null;
      return { input, weight: dw, bias };
    },
  };
}

function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, p = 1; i >= 0; i--) { s[i] = p; p *= shape[i]; }
  return s;
}
