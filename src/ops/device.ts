// Moving a tensor between devices: x.to('webgpu'), x.to('cpu') (PyTorch's names). A copy onto the
// other device's storage, recorded for autograd: the gradient moves back the other way. Not in
// ops/index.ts: it is a Tensor method (methods.ts), as in PyTorch.

import { apply } from '../autograd.js';
import { transfer, transferAsync } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import { assertTensor } from './util.js';

/** x's values on `device` (x itself when it is there already); differentiable. Reading a device
 *  that only reads back asynchronously (WebGPU) onto the host needs toAsync instead. */
export function toDevice(x: Tensor, device: string): Tensor {
  assertTensor('to', x);
  if (x.device === device) return x;
  const out = new Tensor(transfer(x, device, `to('${device}')`), [...x.shape]);
  return apply('to', out, [x], (g) => [toDevice(g, x.device)]);
}

/** toDevice on any device pair: a device's values come back asynchronously. */
export async function toDeviceAsync(x: Tensor, device: string): Promise<Tensor> {
  assertTensor('toAsync', x);
  if (x.device === device) return x;
  const out = new Tensor(await transferAsync(x, device), [...x.shape]);
  return apply('to', out, [x], (g) => [toDevice(g, x.device)]);
}
