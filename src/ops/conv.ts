// Convolution and pooling, composed from the im2col/col2im primitives and matmul, argmax, gather
// and mean. im2col and col2im are each other's adjoint, so each is the other's gradient and
// every op here differentiates any number of times. conv2d, conv2dRelu and maxPool2d are also
// fused kernels a backend may have: the dispatch runs the backend's, and where it has none or
// declines, the composite below runs.

import { apply, isGradEnabled, sumToShape } from '../autograd.js';
import { DECLINE, convOutSize, fused, kernels, type Conv2dGeometry } from '../dispatch.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { fmtShape } from '../shape.js';
import { Tensor, ones } from '../tensor.js';
import { add, div, gt, relu, where } from './elementwise.js';
import { matmul } from './matmul.js';
import { contiguous, permute, reshape, squeeze, transpose, unsqueeze } from './movement.js';
import { argmax, mean, sum } from './reduce.js';
import { gather, scatterAdd } from './indexing.js';
import { assertTensor, requireFloat } from './util.js';

/** A size given once for both spatial dims, or as [height, width]. */
export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

export interface MaxPool2dOptions {
  /** Default: the kernel size. */
  stride?: Pair | null;
  padding?: Pair;
  dilation?: Pair;
}

export interface AvgPool2dOptions {
  /** Default: the kernel size. */
  stride?: Pair | null;
  padding?: Pair;
  /** Count the zero padding in the divisor (PyTorch's default, true). */
  countIncludePad?: boolean;
}

function pair(op: string, name: string, v: Pair, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if ((typeof v !== 'number' && (!Array.isArray(v) || v.length !== 2)) || !p.every((x) => Number.isInteger(x) && x >= min)) {
    throw new ValueError(`${op}: ${name} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

/** Output height and width of a window sweep; throws when the window does not fit. */
function outHW(op: string, shape: readonly number[], g: Conv2dGeometry): [number, number] {
  const H = shape[shape.length - 2], W = shape[shape.length - 1];
  const OH = convOutSize(H, g.kernel[0], g.stride[0], g.padding[0], g.dilation[0]);
  const OW = convOutSize(W, g.kernel[1], g.stride[1], g.padding[1], g.dilation[1]);
  if (OH < 1 || OW < 1) {
    const eh = g.dilation[0] * (g.kernel[0] - 1) + 1, ew = g.dilation[1] * (g.kernel[1] - 1) + 1;
    throw new ShapeError(
      `${op}: kernel size (${eh}x${ew} after dilation) is larger than the padded input ` +
        `(${H + 2 * g.padding[0]}x${W + 2 * g.padding[1]}) of input shape ${fmtShape(shape)}`,
    );
  }
  return [OH, OW];
}

type LooseGeometry = { kernel: Pair; stride: Pair; padding: Pair; dilation: Pair };

function checkGeometry(op: string, g: LooseGeometry): Conv2dGeometry {
  return {
    kernel: pair(op, 'kernel size', g.kernel, 1),
    stride: pair(op, 'stride', g.stride, 1),
    padding: pair(op, 'padding', g.padding, 0),
    dilation: pair(op, 'dilation', g.dilation, 1),
  };
}

/**
 * Unfold: x [N,C,H,W] → columns [N, C*kh*kw, OH*OW] (torch.nn.functional.unfold), or
 * [C*kh*kw, N, OH*OW] with `batchInner`, the layout in which a whole batch's convolution is one
 * matrix product. Taps outside the image read padValue.
 */
export function im2col(x: Tensor, geometry: Conv2dGeometry, padValue = 0, batchInner = false): Tensor {
  assertTensor('im2col', x);
  if (x.ndim !== 4) throw new ShapeError(`im2col: expected a 4-D input [N, C, H, W], got shape ${fmtShape(x.shape)}`);
  const g = checkGeometry('im2col', geometry);
  const [OH, OW] = outHW('im2col', x.shape, g);
  const [N, C] = x.shape;
  const R = C * g.kernel[0] * g.kernel[1];
  const out = new Tensor(kernels.im2col(x, g, padValue, batchInner), batchInner ? [R, N, OH * OW] : [N, R, OH * OW]);
  return apply('im2col', out, [x], (gr) => [col2im(gr, g, [N, C, x.shape[2], x.shape[3]], batchInner)]);
}

/** Fold, the adjoint of im2col: columns (in im2col's layout, see there) → [N,C,H,W], overlaps summed. */
export function col2im(cols: Tensor, geometry: Conv2dGeometry, inputShape: readonly [number, number, number, number], batchInner = false): Tensor {
  assertTensor('col2im', cols);
  const g = checkGeometry('col2im', geometry);
  if (inputShape.length !== 4 || !inputShape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ValueError(`col2im: inputShape must be [N, C, H, W] of non-negative integers, got ${JSON.stringify(inputShape)}`);
  }
  const [OH, OW] = outHW('col2im', inputShape, g);
  const [N, C] = inputShape;
  const R = C * g.kernel[0] * g.kernel[1];
  const want = batchInner ? [R, N, OH * OW] : [N, R, OH * OW];
  if (cols.ndim !== 3 || cols.shape.some((d, i) => d !== want[i])) {
    throw new ShapeError(`col2im: columns of shape ${fmtShape(cols.shape)} do not match ${fmtShape(want)} for input shape ${fmtShape(inputShape)}`);
  }
  const shape: [number, number, number, number] = [inputShape[0], inputShape[1], inputShape[2], inputShape[3]];
  const out = new Tensor(kernels.col2im(cols, g, shape, batchInner), shape);
  return apply('col2im', out, [cols], (gr) => [im2col(gr, g, 0, batchInner)]);
}

/** Accept [C,H,W] like PyTorch: run batched, then drop the added batch dim. */
function batched(op: string, x: Tensor, f: (x4: Tensor) => Tensor): Tensor {
  assertTensor(op, x);
  if (x.ndim === 4) return f(x);
  if (x.ndim === 3) return squeeze(f(unsqueeze(x, 0)), 0);
  throw new ShapeError(`${op}: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got shape ${fmtShape(x.shape)}`);
}

/**
 * torch.nn.functional.conv2d: x [N,C,H,W] (or [C,H,W]), weight [O, C/groups, kh, kw], bias [O].
 * Computed as weight.reshape(O, C*kh*kw) · im2col(x), one matmul per group.
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  return convolve('conv2d', x, weight, bias, opts, false);
}

/**
 * relu(conv2d(x, weight, bias, opts)), exactly (torch.ao.nn.intrinsic.ConvReLU2d's fusion). With the
 * backend's fused conv kernels (wasm and blas: groups = 1), the relu runs in the pass that lays out
 * the output, and the backward masks the gradient in the pass that lays it out for the products, so
 * neither relu, its backward nor the bias gradient's sum is a pass of its own.
 */
export function conv2dRelu(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  return convolve('conv2dRelu', x, weight, bias, opts, true);
}

/** conv2d's argument checks (typed errors naming what is wrong) on a 4-D x; its sizes and geometry. */
function checkConv(op: string, x4: Tensor, weight: Tensor, bias: Tensor | null | undefined, opts: Conv2dOptions) {
  assertTensor(op, weight, 'weight');
  if (bias !== undefined && bias !== null) assertTensor(op, bias, 'bias');
  requireFloat(op, x4);
  if (weight.dtype !== x4.dtype || (bias && bias.dtype !== x4.dtype)) {
    throw new DTypeError(`${op}: input (${x4.dtype}), weight (${weight.dtype})${bias ? ` and bias (${bias.dtype})` : ''} must have the same dtype`);
  }
  if (weight.ndim !== 4) throw new ShapeError(`${op}: expected a 4-D weight [O, C/groups, kh, kw], got shape ${fmtShape(weight.shape)}`);
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new ValueError(`${op}: groups must be a positive integer, got ${groups}`);
  const C = x4.shape[1];
  const [O, Cg, kh, kw] = weight.shape;
  if (Cg * groups !== C || O % groups !== 0) {
    throw new ShapeError(
      `${op}: input shape ${fmtShape(x4.shape)} has ${C} channels, but weight shape ${fmtShape(weight.shape)} with groups=${groups} ` +
        `expects ${Cg * groups} input channels and out channels divisible by ${groups}`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== O)) {
    throw new ShapeError(`${op}: bias must have shape [${O}] (one per output channel of weight ${fmtShape(weight.shape)}), got ${fmtShape(bias.shape)}`);
  }
  const g = checkGeometry(op, {
    kernel: [kh, kw],
    stride: opts.stride ?? 1,
    padding: opts.padding ?? 0,
    dilation: opts.dilation ?? 1,
  });
  const [OH, OW] = outHW(op, x4.shape, g);
  return { g, groups, O, Cg, kh, kw, OH, OW };
}

function convolve(op: string, x: Tensor, weight: Tensor, bias: Tensor | null | undefined, opts: Conv2dOptions, withRelu: boolean): Tensor {
  return batched(op, x, (x4) => {
    const { g, groups, O, Cg, kh, kw, OH, OW } = checkConv(op, x4, weight, bias, opts);
    const [N] = x4.shape;
    const K = Cg * kh * kw, L = OH * OW;
    if (groups === 1) {
      // The fused kernels' contract is groups = 1. A weight stored as a transposed matrix keeps the
      // composite: its gradient there takes matmul's transposed path (another summation order, a
      // transposed .grad), which the fused backward does not reproduce bit for bit.
      const w2 = reshape(weight, [O, K]);
      if (!isTransposedMatrix(w2)) {
        const y = convFused(op, x4, w2, bias ?? null, g, withRelu);
        if (y) return y;
      }
      // The whole batch as one product, weight [O, K] · columns [K, N·L]: one large matrix
      // product uses every core and keeps the weight gradient a single product too (its sum over
      // the batch is the product's inner dimension), where a per-image batch of small products
      // would need a [N, O, K] intermediate and a reduction.
      const cols = reshape(im2col(x4, g, 0, true), [K, N * L]);
      const prod = reshape(matmul(reshape(weight, [O, K]), cols), [O, N, OH, OW]);
      const out = permute(prod, [1, 0, 2, 3]);
      const y = bias ? add(out, reshape(bias, [1, O, 1, 1])) : contiguous(out);
      return withRelu ? relu(y) : y;
    }
    // Channels are the outermost factor of im2col's rows, so each group's rows are contiguous.
    const cols = reshape(im2col(x4, g, 0), [N, groups, K, L]);
    const w = reshape(weight, [groups, O / groups, K]);
    let out = reshape(matmul(w, cols), [N, O, OH, OW]);
    if (bias) out = add(out, reshape(bias, [1, O, 1, 1]));
    return withRelu ? relu(out) : out;
  });
}

/** [O,K] stored as the transpose of a contiguous [K,O]: the composite's matmul then takes another gradient path. */
function isTransposedMatrix(w: Tensor): boolean {
  return w.shape[0] > 1 && w.shape[1] > 1 && w.strides[0] === 1 && w.strides[1] === w.shape[0];
}

/**
 * conv2d (groups = 1), relu'd when asked, through the backend's fused kernels, or null where it has
 * none or they decline: the same results as the composite above, without its intermediates
 * (columns, product, permute copy) as arrays of their own. The backward stages the gradient once
 * and computes only the gradients that are wanted, the columns being recomputed for the weight's;
 * the bias gradient is summed in the same pass, in another order than the sum op's. When the
 * gradient needs a graph of its own (double backward), or the backward kernel declines, it is
 * built from the composite's ops.
 */
function convFused(op: string, x: Tensor, w2: Tensor, bias: Tensor | null, g: Conv2dGeometry, withRelu: boolean): Tensor | null {
  const [N, C, H, W] = x.shape;
  const [O, K] = w2.shape;
  const [OH, OW] = outHW(op, x.shape, g);
  const inputShape: [number, number, number, number] = [N, C, H, W];
  const y = fused.conv2d(x, w2, bias, g, withRelu);
  if (y === DECLINE) return null;
  const out = new Tensor(y, [N, O, OH, OW]);
  return apply(op, out, bias ? [x, w2, bias] : [x, w2], (gr) => {
    const want = { input: x.requiresGrad, weight: w2.requiresGrad, bias: bias?.requiresGrad ?? false };
    const r = gr.requiresGrad && isGradEnabled() ? DECLINE : fused.conv2dBackward(x, gr, w2, withRelu ? out : null, g, want);
    if (r === DECLINE) {
      // relu's backward as ops: out > 0 exactly where relu's input was > 0 (NaN and ±0 excluded).
      return convGradsComposite(x, w2, bias, g, withRelu ? where(gt(out, 0), gr, 0) : gr);
    }
    return [
      r.input ? new Tensor(r.input, inputShape) : null,
      r.weight ? new Tensor(r.weight, [O, K]) : null,
      r.bias ? new Tensor(r.bias, [O]) : null,
    ];
  });
}

/**
 * conv2d's gradients (groups = 1, weight as [O, K]) from the gradient gm [N,O,OH,OW] at its output,
 * built from ops: what the fused backward computes, for a double backward or where it declines.
 */
function convGradsComposite(x: Tensor, w2: Tensor, bias: Tensor | null, g: Conv2dGeometry, gm: Tensor): (Tensor | null)[] {
  const [N, C, H, W] = x.shape;
  const [O, K] = w2.shape;
  const [, , OH, OW] = gm.shape;
  const gT = reshape(permute(gm, [1, 0, 2, 3]), [O, N * OH * OW]);
  const dx = x.requiresGrad ? col2im(reshape(matmul(transpose(w2), gT), [K, N, OH * OW]), g, [N, C, H, W], true) : null;
  const dw = w2.requiresGrad ? matmul(gT, transpose(reshape(im2col(x, g, 0, true), [K, N * OH * OW]))) : null;
  return [dx, dw, bias?.requiresGrad ? reshape(sumToShape(gm, [1, O, 1, 1]), [O]) : null];
}

function poolGeometry(op: string, kernelSize: Pair, stride: Pair | null | undefined, padding: Pair, dilation: Pair): Conv2dGeometry {
  const kernel = pair(op, 'kernel size', kernelSize, 1);
  const g = checkGeometry(op, { kernel, stride: stride ?? kernel, padding, dilation });
  // PyTorch's rule: padding beyond half the window would make windows of padding only.
  if (g.padding[0] > Math.floor(kernel[0] / 2) || g.padding[1] > Math.floor(kernel[1] / 2)) {
    throw new ValueError(`${op}: padding ${fmtShape(g.padding)} must be at most half the kernel size ${fmtShape(kernel)}`);
  }
  return g;
}

/** Windows of each channel separately: x [N,C,H,W] → [N*C, kh*kw, OH*OW]. */
function windows(op: string, x: Tensor, g: Conv2dGeometry, padValue: number): { cols: Tensor; outShape: number[] } {
  const [N, C, H, W] = x.shape;
  const [OH, OW] = outHW(op, x.shape, g);
  const cols = im2col(reshape(x, [N * C, 1, H, W]), g, padValue);
  return { cols, outShape: [N, C, OH, OW] };
}

/** torch.nn.functional.max_pool2d; the gradient goes to the first maximum of each window. */
export function maxPool2d(x: Tensor, kernelSize: Pair, opts: MaxPool2dOptions = {}): Tensor {
  return batched('maxPool2d', x, (x4) => {
    requireFloat('maxPool2d', x4);
    const g = poolGeometry('maxPool2d', kernelSize, opts.stride, opts.padding ?? 0, opts.dilation ?? 1);
    // The fused kernel's contract (windows hold a real pixel) is poolGeometry's padding rule.
    const fast = maxPoolFused(x4, g);
    if (fast) return fast;
    const { cols, outShape } = windows('maxPool2d', x4, g, -Infinity);
    const idx = argmax(cols, 1, true);
    return reshape(gather(cols, 1, idx), outShape);
  });
}

/**
 * One-pass max pooling through the backend's fused kernel, or null where it has none or declines;
 * the gradient scatters into the argmax positions. When that gradient needs a graph of its own
 * (double backward), the scatter is the scatterAdd op, whose gradient is a gather; otherwise a
 * fused backward kernel, when the backend has one that takes the call, does it in one pass.
 */
function maxPoolFused(x: Tensor, g: Conv2dGeometry): Tensor | null {
  const [N, C, H, W] = x.shape;
  const [OH, OW] = outHW('maxPool2d', x.shape, g);
  const r = fused.maxPool2d(x, g);
  if (r === DECLINE) return null;
  const out = new Tensor(r.out, [N, C, OH, OW]);
  return apply('maxPool2d', out, [x], (gr) => {
    const back = gr.requiresGrad && isGradEnabled() ? DECLINE : fused.maxPool2dBackward(gr, r.argmax, [N, C, H, W]);
    if (back !== DECLINE) return [new Tensor(back, [N, C, H, W])];
    const idx = new Tensor(r.argmax, [N * C, OH * OW]);
    return [reshape(scatterAdd([N * C, H * W], 1, idx, reshape(gr, [N * C, OH * OW])), x.shape)];
  });
}

/** torch.nn.functional.avg_pool2d. */
export function avgPool2d(x: Tensor, kernelSize: Pair, opts: AvgPool2dOptions = {}): Tensor {
  return batched('avgPool2d', x, (x4) => {
    requireFloat('avgPool2d', x4);
    const g = poolGeometry('avgPool2d', kernelSize, opts.stride, opts.padding ?? 0, 1);
    const { cols, outShape } = windows('avgPool2d', x4, g, 0);
    if (opts.countIncludePad ?? true) return reshape(mean(cols, 1), outShape);
    // Per-window count of real pixels: the same unfold applied to an image of ones.
    const [, , H, W] = x4.shape;
    const count = sum(im2col(ones([1, 1, H, W], { dtype: x4.dtype, device: x4.device }), g, 0), 1);
    return reshape(div(sum(cols, 1), count), outShape);
  });
}

// conv2d → relu → max-pool as one op (issue 17). Where the backend has the fused kernels (wasm and
// blas, for groups = 1 and non-overlapping windows: stride = window, no padding, dilation 1), the
// forward writes only the pooled output and its argmax, and the backward builds the conv's gradient
// rows straight from the pooled gradient, so the full-size activation never becomes a tensor, and
// neither relu, the pooling nor their backwards is a pass of its own. Otherwise the two ops run.

/**
 * maxPool2d(relu(conv2d(x, weight, bias, convOpts)), poolKernelSize, poolOpts): the same values and
 * gradients (the bias gradient summed in another order: within float32 rounding), in one op.
 * x [N,C,H,W] or [C,H,W]; what nn.Sequential runs for Conv2d, ReLU, MaxPool2d in a row.
 */
export function conv2dReluMaxPool2d(
  x: Tensor, weight: Tensor, bias: Tensor | null | undefined, convOpts: Conv2dOptions = {}, poolKernelSize: Pair = 2, poolOpts: MaxPool2dOptions = {},
): Tensor {
  const op = 'conv2dReluMaxPool2d';
  assertTensor(op, x);
  return batched(op, x, (x4) => {
    const c = checkConv(op, x4, weight, bias, convOpts);
    const p = poolGeometry('maxPool2d', poolKernelSize, poolOpts.stride, poolOpts.padding ?? 0, poolOpts.dilation ?? 1);
    const nonOverlapping = p.stride[0] === p.kernel[0] && p.stride[1] === p.kernel[1] && p.padding.every((v) => v === 0) && p.dilation.every((v) => v === 1);
    const PH = Math.floor(c.OH / p.kernel[0]), PW = Math.floor(c.OW / p.kernel[1]);
    const w2 = reshape(weight, [c.O, c.Cg * c.kh * c.kw]);
    if (c.groups !== 1 || !nonOverlapping || PH < 1 || PW < 1 || isTransposedMatrix(w2)) {
      return maxPool2d(conv2dRelu(x4, weight, bias, convOpts), poolKernelSize, poolOpts);
    }
    const r = fused.conv2dReluPool(x4, w2, bias ?? null, c.g, p.kernel);
    if (r === DECLINE) return maxPool2d(conv2dRelu(x4, weight, bias, convOpts), poolKernelSize, poolOpts);
    const [N] = x4.shape;
    const b = bias ?? null;
    const out = new Tensor(r.out, [N, c.O, PH, PW]);
    return apply(op, out, b ? [x4, w2, b] : [x4, w2], (gr) => {
      const want = { input: x4.requiresGrad, weight: w2.requiresGrad, bias: b?.requiresGrad ?? false };
      const g = gr.requiresGrad && isGradEnabled() ? DECLINE : fused.conv2dReluPoolBackward(x4, gr, w2, out, r.argmax, c.g, p.kernel, want);
      if (g === DECLINE) {
        // As ops: the pooled gradient masked by relu (out > 0), scattered to each window's argmax.
        const gm = where(gt(out, 0), gr, 0);
        const idx = new Tensor(r.argmax, [N * c.O, PH * PW]);
        const full = reshape(scatterAdd([N * c.O, c.OH * c.OW], 1, idx, reshape(gm, [N * c.O, PH * PW])), [N, c.O, c.OH, c.OW]);
        return convGradsComposite(x4, w2, b, c.g, full);
      }
      return [
        g.input ? new Tensor(g.input, x4.shape) : null,
        g.weight ? new Tensor(g.weight, w2.shape) : null,
        g.bias ? new Tensor(g.bias, [c.O]) : null,
      ];
    });
  });
}
