// clone, split and chunk: copies and views along a dim (split/chunk return views made by slice,
// so each piece carries slice's gradient).

import { apply } from '../autograd.js';
import { kernels } from '../dispatch.js';
import { IndexError, ValueError } from '../errors.js';
import { normAxis } from '../shape.js';
import { Tensor } from '../tensor.js';
import { slice } from './movement.js';
import { assertTensor } from './util.js';

/** A fresh contiguous copy that stays in the graph (the gradient passes straight through). */
export function clone(x: Tensor): Tensor {
  assertTensor('clone', x);
  const out = new Tensor(kernels.copy(x, x.dtype), [...x.shape]);
  return apply('clone', out, [x], (g) => [g]);
}

function splitDim(op: string, x: Tensor, dim: number): number {
  assertTensor(op, x);
  if (x.ndim === 0) throw new IndexError(`${op}: cannot split a 0-d tensor (shape []); it has no dimension`);
  return normAxis(op, dim, x.ndim);
}

/** torch.split: pieces of splitSize along dim (the last may be smaller), or of the given sizes. */
export function split(x: Tensor, splitSizeOrSections: number | readonly number[], dim = 0): Tensor[] {
  const d = splitDim('split', x, dim);
  const n = x.shape[d];
  let sizes: number[];
  if (typeof splitSizeOrSections === 'number') {
    const s = splitSizeOrSections;
    if (!Number.isInteger(s) || s < 0 || (s === 0 && n > 0)) throw new ValueError(`split: splitSize must be a positive integer, got ${s}`);
    sizes = n === 0 ? [0] : Array.from({ length: Math.ceil(n / s) }, (_, i) => Math.min(s, n - i * s));
  } else if (Array.isArray(splitSizeOrSections)) {
    sizes = [...splitSizeOrSections];
    if (sizes.some((s) => !Number.isInteger(s) || s < 0)) throw new ValueError(`split: section sizes must be non-negative integers, got [${sizes.join(', ')}]`);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== n) throw new ValueError(`split: section sizes [${sizes.join(', ')}] sum to ${total}, not to the size ${n} of dimension ${dim}`);
  } else {
    throw new ValueError('split: splitSizeOrSections must be an integer or an array of integers');
  }
  const out: Tensor[] = [];
  let start = 0;
  for (const s of sizes) {
    out.push(slice(x, d, start, start + s));
    start += s;
  }
  return out;
}

/** torch.chunk: up to `chunks` pieces of ⌈n/chunks⌉ along dim (fewer when n is small). */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  const d = splitDim('chunk', x, dim);
  if (!Number.isInteger(chunks) || chunks < 1) throw new ValueError(`chunk: chunks must be a positive integer, got ${chunks}`);
  const n = x.shape[d];
  return split(x, n === 0 ? 1 : Math.ceil(n / chunks), d);
}
