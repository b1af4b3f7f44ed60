// Sequential: children stored under the property names "0", "1", ... so state-dict names are
// PyTorch's (`0.weight`, `2.bias`); JS enumerates integer-like keys first and in ascending order,
// which keeps that order whatever else the instance holds. forward runs a Conv2d followed by a ReLU as
// one fused op.

import { IndexError, ValueError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { ReLU } from './activation.js';
import { Conv2d } from './conv.js';
import { MaxPool2d } from './pooling.js';
import { Module, describe, type AnyModule, type LayerConfig } from './module.js';

/** Exactly an instance of cls: not a subclass, and no forward of its own patched onto the instance. */
const exactly = (m: AnyModule, cls: abstract new (...a: never[]) => AnyModule): boolean =>
  m.constructor === cls && !Object.prototype.hasOwnProperty.call(m, 'forward');

/**
 * Layers run in order, each one's output the next one's input (PyTorch's nn.Sequential). Typed
 * Tensor → Tensor; it accepts any module, as PyTorch does, so a chain whose last layer returns
 * something else (an RNN's [output, state]) is the caller's to unpack.
 */
export class Sequential extends Module {
  // Index access: seq[0]. Numeric keys are the children; the class declares no other numeric keys.
  [index: number]: AnyModule;

  constructor(...modules: AnyModule[]) {
    super();
    for (const m of modules) this.append(m);
  }

  get length(): number {
    // Children are appended at 0, 1, 2, …: count them by probing (cheap on every forward pass),
    // not by listing every key.
    let n = 0;
    while (Object.prototype.hasOwnProperty.call(this, n)) n++;
    return n;
  }

  append(module: AnyModule): this {
    if (!(module instanceof Module)) throw new ValueError(`Sequential.append: expected a Module, got ${module === null ? 'null' : typeof module}`);
    this[this.length] = module;
    return this;
  }

  extend(modules: Iterable<AnyModule>): this {
    for (const m of modules) this.append(m);
    return this;
  }

  /** The i-th layer; negative i counts from the end. */
  at(i: number): AnyModule {
    const n = this.length;
    if (!Number.isInteger(i) || i < -n || i >= n) throw new IndexError(`Sequential.at: index ${i} is out of range for ${n} layers`);
    return this[i < 0 ? i + n : i];
  }

  *[Symbol.iterator](): Iterator<AnyModule> {
    const n = this.length;
    for (let i = 0; i < n; i++) yield this[i];
  }

  /** Each layer's output is the next one's input. */
  override forward(x: Tensor): Tensor {
    const layers = [...this];
    let y: unknown = x;
    for (let i = 0; i < layers.length; i++) {
      const m = layers[i], next = layers[i + 1];
      // Conv2d then ReLU as one op (conv2dRelu): the same values and gradients, without the
      // separate relu passes over the conv's output. Only the exact classes, whose forward is known.
      // Conv2d, ReLU, MaxPool2d as one op (conv2dReluMaxPool2d): the full-size activation is never a tensor.
      const third = layers[i + 2];
      if (next && third && exactly(m, Conv2d) && exactly(next, ReLU) && exactly(third, MaxPool2d)) {
        const p = third as MaxPool2d;
        y = (m as Conv2d).forwardReluMaxPool(y as Tensor, p.kernelSize, { stride: p.stride, padding: p.padding, dilation: p.dilation });
        i += 2;
      } else if (next && exactly(m, Conv2d) && exactly(next, ReLU)) {
        y = (m as Conv2d).forwardRelu(y as Tensor);
        i++;
      } else y = m.forward(y);
    }
    return y as Tensor;
  }

  override config(): LayerConfig {
    return { type: 'Sequential', layers: [...this].map((m) => describe(m)) };
  }
}
