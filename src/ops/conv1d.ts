// conv1d as conv2d over a unit height: [N, C, L] → [N, C, 1, L] with a [O, C/g, 1, k] kernel, so
// it shares conv2d's kernels, fused paths and gradients.

import { ShapeError } from '../errors.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { conv2d } from './conv.js';
import { squeeze, unsqueeze } from './movement.js';
import { assertTensor } from './util.js';

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
}

/** F.conv1d: input [N, C, L] (or unbatched [C, L]), weight [O, C/groups, k], bias [O]. */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv1dOptions = {}): Tensor {
  assertTensor('conv1d', x);
  assertTensor('conv1d', weight, 'weight');
  if (x.ndim !== 2 && x.ndim !== 3) throw new ShapeError(`conv1d: expected a 3-D input [N, C, L] or 2-D [C, L], got shape ${fmtShape(x.shape)}`);
  if (weight.ndim !== 3) throw new ShapeError(`conv1d: expected a 3-D weight [O, C/groups, k], got shape ${fmtShape(weight.shape)}`);
  const C = x.shape[x.ndim - 2], groups = opts.groups ?? 1;
  if (C !== weight.shape[1] * groups) {
    throw new ShapeError(`conv1d: input shape ${fmtShape(x.shape)} has ${C} channels, but weight shape ${fmtShape(weight.shape)} with groups=${groups} expects ${weight.shape[1] * groups}`);
  }
  const y = conv2d(unsqueeze(x, -2), unsqueeze(weight, 2), bias ?? null, {
    stride: [1, opts.stride ?? 1],
    padding: [0, opts.padding ?? 0],
    dilation: [1, opts.dilation ?? 1],
    groups,
  });
  return squeeze(y, -2);
}
