// Parameter: a Tensor a Module owns and trains. Modules find their parameters by walking their own
// properties and picking the values that are Parameters (module.ts), so being a Parameter is what
// registers a tensor with its module.

import { Tensor } from '../tensor.js';

export class Parameter extends Tensor {
  /** Wraps data's storage (shared, not copied) as a leaf; requiresGrad defaults to true like torch.nn.Parameter. */
  constructor(data: Tensor, requiresGrad = true) {
    super(data.storage, data.shape, data.strides, data.offset);
    if (requiresGrad) this.requiresGrad_(true);
  }

  override toString(): string {
    return `Parameter containing:\n${super.toString()}`;
  }
}
