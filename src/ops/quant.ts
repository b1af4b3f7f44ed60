// Fake quantisation, for quantisation-aware training (torch.fake_quantize_per_tensor_affine and
// torch.fake_quantize_per_channel_affine): the forward puts x on the integer grid and back,
// x̂ = (clamp(round(x·(1/s)) + z, qmin, qmax) − z)·s, rounding ties to even as fbgemm and Nabla's
// int8 kernels do; the backward is PyTorch's straight-through estimator: the gradient passes
// where round(x/s) + z lay inside [qmin, qmax] and is 0 where the value was clamped. The estimator
// is linear in the incoming gradient, so it differentiates again.

import { apply, noGrad } from '../autograd.js';
import { ShapeError, ValueError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { add, clamp, ge, le, mul, reciprocal, round, sub, toDType } from './elementwise.js';
import { reshape } from './movement.js';
import { assertTensor, requireFloat } from './util.js';

function checkRange(op: string, quantMin: number, quantMax: number): void {
  if (!Number.isInteger(quantMin) || !Number.isInteger(quantMax) || quantMin > quantMax) {
    throw new ValueError(`${op}: quantMin and quantMax must be integers with quantMin ≤ quantMax, got ${quantMin} and ${quantMax}`);
  }
}

/** x̂ and the straight-through mask for scale/zero point tensors that broadcast against x. */
function fakeQuant(name: string, x: Tensor, invScale: Tensor | number, scale: Tensor | number, zeroPoint: Tensor | number, quantMin: number, quantMax: number): Tensor {
  const [out, pass] = noGrad(() => {
    const q = add(round(mul(x, invScale)), zeroPoint);
    const inside = mul(ge(q, quantMin), le(q, quantMax));
    return [mul(sub(clamp(q, quantMin, quantMax), zeroPoint), scale), inside] as const;
  });
  const ste = (g: Tensor): Tensor => {
    const r = mul(g, pass); // g·mask, as PyTorch (a clamped negative gradient is −0)
    return apply(`${name}Backward`, r, [g], (gg) => [ste(gg)]);
  };
  return apply(name, out.detach(), [x], (g) => [ste(g)]);
}

/** torch.fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max). */
export function fakeQuantizePerTensorAffine(x: Tensor, scale: number, zeroPoint: number, quantMin: number, quantMax: number): Tensor {
  const op = 'fakeQuantizePerTensorAffine';
  assertTensor(op, x);
  requireFloat(op, x);
  checkRange(op, quantMin, quantMax);
  if (!(Number.isFinite(scale) && scale > 0)) throw new ValueError(`${op}: scale must be finite and positive, got ${scale}`);
  if (!Number.isInteger(zeroPoint) || zeroPoint < quantMin || zeroPoint > quantMax) {
    throw new ValueError(`${op}: zeroPoint must be an integer in [quantMin, quantMax] = [${quantMin}, ${quantMax}], got ${zeroPoint}`);
  }
  // 1/scale in float32 for a float32 x, as PyTorch and the int8 kernels compute it
  const inv = x.dtype === 'float32' ? Math.fround(1 / Math.fround(scale)) : 1 / scale;
  return fakeQuant(op, x, inv, x.dtype === 'float32' ? Math.fround(scale) : scale, zeroPoint, quantMin, quantMax);
}

/** torch.fake_quantize_per_channel_affine(x, scale, zero_point, axis, quant_min, quant_max): one
 *  scale and zero point per index along `axis` (scale float, zeroPoint int32, both 1-D). */
export function fakeQuantizePerChannelAffine(x: Tensor, scale: Tensor, zeroPoint: Tensor, axis: number, quantMin: number, quantMax: number): Tensor {
  const op = 'fakeQuantizePerChannelAffine';
  assertTensor(op, x);
  assertTensor(op, scale, 'scale');
  assertTensor(op, zeroPoint, 'zeroPoint');
  requireFloat(op, x);
  checkRange(op, quantMin, quantMax);
  const ax = axis < 0 ? axis + x.ndim : axis;
  if (!Number.isInteger(axis) || ax < 0 || ax >= x.ndim) throw new ValueError(`${op}: axis ${axis} is out of range for a ${x.ndim}-d input`);
  const C = x.shape[ax]!;
  if (scale.ndim !== 1 || scale.shape[0] !== C) throw new ShapeError(`${op}: scale must be 1-D with ${C} values (x.shape[${ax}]), got shape [${scale.shape.join(', ')}]`);
  if (zeroPoint.ndim !== 1 || zeroPoint.shape[0] !== C) throw new ShapeError(`${op}: zeroPoint must be 1-D with ${C} values, got shape [${zeroPoint.shape.join(', ')}]`);
  if (zeroPoint.dtype !== 'int32') throw new ValueError(`${op}: zeroPoint must be int32, got ${zeroPoint.dtype}`);
  if (scale.device === 'cpu' && zeroPoint.device === 'cpu') {
    // the values are checked where reading them costs nothing (on a device that would be a readback)
    const s = scale.toTypedArray(), z = zeroPoint.toTypedArray();
    for (let i = 0; i < C; i++) {
      if (!(Number.isFinite(s[i]!) && s[i]! > 0)) throw new ValueError(`${op}: scale[${i}] must be finite and positive, got ${s[i]}`);
      if (z[i]! < quantMin || z[i]! > quantMax) throw new ValueError(`${op}: zeroPoint[${i}] = ${z[i]} lies outside [${quantMin}, ${quantMax}]`);
    }
  }
  const view = Array.from({ length: x.ndim }, (_, i) => (i === ax ? C : 1));
  const sc = reshape(toDType(scale.detach(), x.dtype), view);
  return fakeQuant(op, x, reciprocal(sc), sc, reshape(toDType(zeroPoint, x.dtype), view), quantMin, quantMax);
}
