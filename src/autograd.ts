// Reverse-mode autograd on a dynamic graph. Every op passes through apply(), which records a
// GradFn when gradients are wanted. backward() orders the graph with an iterative topological
// sort (a recursive one overflows the stack on long RNN graphs), runs each GradFn in reverse and
// reduces gradients to their input's (pre-broadcast) shape in one place: here.

import { AutogradError, ShapeError } from './errors.js';
import { kernels } from './dispatch.js';
import { fmtShape, numel, shapeEqual } from './shape.js';
import { Tensor, full, type GradFn } from './tensor.js';
import type { DType } from './dtype.js';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn with gradient recording switched on or off; restores the previous mode. */
export function setGradEnabled<T>(enabled: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** torch.no_grad(): nothing computed inside is recorded. */
export function noGrad<T>(fn: () => T): T {
  return setGradEnabled(false, fn);
}

export function enableGrad<T>(fn: () => T): T {
  return setGradEnabled(true, fn);
}

type Backward = (g: Tensor) => (Tensor | null | undefined)[];

/** The single entry of every op: record the node when an input requires grad. */
export function apply(name: string, out: Tensor, inputs: readonly Tensor[], backward: Backward): Tensor {
  if (gradEnabled) {
    for (const t of inputs) {
      if (t.requiresGrad) {
        out.requiresGrad = true;
        out.gradFn = { name, inputs, backward };
        break;
      }
    }
  }
  return out;
}

// ---- the two shape ops the engine itself needs ------------------------------------------

/** Broadcast x to shape as a free view (stride 0 on new/expanded dims). */
export function expandTo(x: Tensor, shape: readonly number[]): Tensor {
  if (shapeEqual(x.shape, shape)) return x;
  const nd = shape.length;
  if (x.ndim > nd) throw new ShapeError(`expand: cannot expand shape ${fmtShape(x.shape)} to ${fmtShape(shape)} (fewer dimensions)`);
  const strides = new Array<number>(nd).fill(0);
  for (let i = 0; i < x.ndim; i++) {
    const j = nd - x.ndim + i;
    if (x.shape[i] === shape[j]) strides[j] = x.strides[i];
    else if (x.shape[i] !== 1) {
      throw new ShapeError(`expand: the size ${x.shape[i]} of dimension ${i} of shape ${fmtShape(x.shape)} must match ${shape[j]} or be 1 to expand to ${fmtShape(shape)}`);
    }
  }
  const out = new Tensor(x.storage, [...shape], strides, x.offset);
  return apply('expand', out, [x], (g) => [sumToShape(g, x.shape)]);
}

/** Sum g over the dimensions that broadcasting added or expanded, giving `shape`. */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (shapeEqual(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new ShapeError(`sumToShape: gradient of shape ${fmtShape(g.shape)} cannot reduce to ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const data = kernels.reduce('sum', g, axes, g.dtype);
  const out = new Tensor(data, [...shape]);
  return apply('sumToShape', out, [g], (gg) => [expandTo(gg, g.shape)]);
}

function castTo(g: Tensor, dtype: DType): Tensor {
  if (g.dtype === dtype) return g;
  const out = new Tensor(kernels.copy(g, dtype), g.shape);
  return apply('cast', out, [g], (gg) => [castTo(gg, g.dtype)]);
}

function addGrads(a: Tensor, b: Tensor): Tensor {
  const out = new Tensor(kernels.binary('add', a, b, a.shape, a.dtype), a.shape);
  return apply('add', out, [a, b], (g) => [g, g]);
}

// ---- backward ------------------------------------------------------------------------------

export interface BackwardOptions {
  /** Keep the graph so backward can run through it again. Default: createGraph. */
  retainGraph?: boolean;
  /** Record the backward pass itself, so gradients can be differentiated again. */
  createGraph?: boolean;
}

/** Tensors reachable from roots through gradFn, in topological order (inputs before outputs). */
function topoOrder(roots: readonly Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [];
  for (const r of roots) {
    if (seen.has(r)) continue;
    seen.add(r);
    stack.push([r, 0]);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const inputs = top[0].gradFn?.inputs ?? [];
      if (top[1] < inputs.length) {
        const next = inputs[top[1]++];
        if (next.requiresGrad && !seen.has(next)) {
          seen.add(next);
          stack.push([next, 0]);
        }
      } else {
        order.push(top[0]);
        stack.pop();
      }
    }
  }
  return order;
}

function run(
  roots: readonly Tensor[],
  rootGrads: readonly Tensor[],
  opts: BackwardOptions,
  capture: Set<Tensor> | null,
): Map<Tensor, Tensor> {
  const createGraph = opts.createGraph ?? false;
  const retainGraph = opts.retainGraph ?? createGraph;
  const grads = new Map<Tensor, Tensor>();
  const captured = new Map<Tensor, Tensor>();
  setGradEnabled(createGraph, () => {
    roots.forEach((r, i) => {
      const prev = grads.get(r);
      grads.set(r, prev ? addGrads(prev, rootGrads[i]) : rootGrads[i]);
    });
    const order = topoOrder(roots);
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (capture) {
        if (capture.has(t)) captured.set(t, g);
      } else if (t.isLeaf || t.retainsGrad) {
        const acc = createGraph ? g : g.detach();
        t.grad = t.grad ? addGrads(t.grad, acc) : acc;
        if (!createGraph) t.grad.requiresGrad = false;
      }
      const fn: GradFn | null = t.gradFn;
      if (!fn) continue;
      if (!fn.backward) {
        throw new AutogradError(`backward: trying to backward through the graph a second time (op '${fn.name}'); pass {retainGraph: true} the first time`);
      }
      const inGrads = fn.backward(g);
      if (!retainGraph) fn.backward = null;
      fn.inputs.forEach((inp, i) => {
        const gi = inGrads[i];
        if (!gi || !inp.requiresGrad) return;
        const r = castTo(sumToShape(gi, inp.shape), inp.dtype);
        const prev = grads.get(inp);
        grads.set(inp, prev ? addGrads(prev, r) : r);
      });
    }
  });
  return captured;
}

function seedGrad(op: string, root: Tensor, grad: Tensor | undefined): Tensor {
  if (!root.requiresGrad) {
    throw new AutogradError(`${op}: the tensor does not require grad and has no gradFn; set requiresGrad on the inputs whose gradients you want`);
  }
  if (grad === undefined) {
    if (numel(root.shape) !== 1) {
      throw new AutogradError(`${op}: grad can be implicitly created only for scalar outputs, got shape ${fmtShape(root.shape)}; pass a gradient of that shape`);
    }
    return full(root.shape, 1, { dtype: root.dtype, device: root.device });
  }
  if (!shapeEqual(grad.shape, root.shape)) {
    throw new ShapeError(`${op}: gradient shape ${fmtShape(grad.shape)} does not match the output shape ${fmtShape(root.shape)}`);
  }
  return grad;
}

/** loss.backward(): accumulate d(root)/d(leaf) into every leaf's .grad. */
export function backward(root: Tensor, grad?: Tensor, opts: BackwardOptions = {}): void {
  run([root], [seedGrad('backward', root, grad)], opts, null);
}

/** torch.autograd.grad: gradients of outputs w.r.t. inputs, returned instead of accumulated. */
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: Tensor | readonly Tensor[],
  opts: BackwardOptions & { gradOutputs?: readonly Tensor[]; allowUnused?: boolean } = {},
): Tensor[] {
  const outs = Array.isArray(outputs) ? (outputs as Tensor[]) : [outputs as Tensor];
  const ins = Array.isArray(inputs) ? (inputs as Tensor[]) : [inputs as Tensor];
  for (const x of ins) {
    if (!x.requiresGrad) throw new AutogradError('grad: one of the inputs does not require grad');
  }
  const seeds = outs.map((o, i) => seedGrad('grad', o, opts.gradOutputs?.[i]));
  const got = run(outs, seeds, opts, new Set(ins));
  return ins.map((x, i) => {
    const g = got.get(x);
    if (g) return g;
    if (!opts.allowUnused) throw new AutogradError(`grad: input ${i} (shape ${fmtShape(x.shape)}) is not used in the graph of the outputs; pass {allowUnused: true} to get zeros`);
    return full(x.shape, 0, { dtype: x.dtype, device: x.device });
  });
}
