// conv2d → relu → max-pool as one op (issue 17): maxPool2d(conv2dRelu(x, weight, bias, opts), k, pool),
// exactly, whatever the arguments. Where the backend has the fused kernels (wasm and blas, for
// groups = 1 and non-overlapping windows: stride = window, no padding, dilation 1), the forward
// writes only the pooled output and its argmax, and the backward builds the conv's gradient rows
// straight from the pooled gradient, so the full-size activation never becomes a tensor, and
// neither relu, the pooling nor their backwards is a pass of its own. Otherwise the two ops run.

import { apply, isGradEnabled } from '../autograd.js';
import { DECLINE, fused } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import { batched, checkConv, conv2dRelu, convGradsComposite, isTransposedMatrix, maxPool2d, poolGeometry, type Conv2dOptions, type MaxPool2dOptions, type Pair } from './conv.js';
import { gt, where } from './elementwise.js';
import { reshape } from './movement.js';
import { scatterAdd } from './indexing.js';

/**
 * maxPool2d(relu(conv2d(x, weight, bias, convOpts)), poolKernelSize, poolOpts): the same values and
 * gradients (the bias gradient summed in another order: within float32 rounding), in one op.
 * x [N,C,H,W] or [C,H,W]; what nn.Sequential runs for Conv2d, ReLU, MaxPool2d in a row.
 */
export function conv2dReluMaxPool2d(
  x: Tensor, weight: Tensor, bias: Tensor | null | undefined, convOpts: Conv2dOptions = {}, poolKernelSize: Pair = 2, poolOpts: MaxPool2dOptions = {},
): Tensor {
  const op = 'conv2dReluMaxPool2d';
  const composite = () => maxPool2d(conv2dRelu(x, weight, bias, convOpts), poolKernelSize, poolOpts);
  if (!(x instanceof Tensor) || (x.ndim !== 3 && x.ndim !== 4)) return composite(); // its errors
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
