// summary(model, inputShape): each layer's output shape and parameter count, as Keras'
// model.summary() and torchinfo show them. One forward pass on zeros in eval mode, no gradient;
// every module's forward is wrapped on the instance for that pass (forward hooks, PyTorch's way of
// seeing inside), then the wrappers are removed. A patched forward also keeps Sequential from
// fusing Conv2d+ReLU, so each layer is seen on its own.

import { noGrad } from '../autograd.js';
import { bytesPerElement } from '../dtype.js';
import { ShapeError, ValueError } from '../errors.js';
import { Tensor, zeros } from '../tensor.js';
import type { AnyModule, Module } from './module.js';

export interface LayerSummary {
  /** Dotted module path ('' for the root), as in namedModules(). */
  name: string;
  /** Class name, e.g. 'Linear'. */
  type: string;
  /** Nesting depth (root 0). */
  depth: number;
  /** Output shape of the module's first call, batch dimension included; null if it was not called. */
  outputShape: number[] | null;
  /** Parameters owned by this module itself (not its children). */
  params: number;
  trainable: number;
}

export interface ModelSummary {
  inputShape: number[];
  batchSize: number;
  layers: LayerSummary[];
  totalParams: number;
  trainableParams: number;
  /** Bytes of all parameters and persistent buffers. */
  paramBytes: number;
  outputShape: number[];
}

export interface SummaryOptions {
  /** Rows in the probe batch (default 1). */
  batchSize?: number;
  /** dtype of the probe input (default float32; int32 zeros for a model that starts with an Embedding). */
  dtype?: 'float32' | 'float64' | 'int32';
}

function firstTensor(out: unknown): Tensor | null {
  if (out instanceof Tensor) return out;
  if (Array.isArray(out)) {
    for (const o of out) {
      const t = firstTensor(o);
      if (t) return t;
    }
  }
  return null;
}

/** Layer-by-layer summary of `model` for one sample of shape `inputShape` (no batch dimension). */
export function summary(model: AnyModule, inputShape: readonly number[], opts: SummaryOptions = {}): ModelSummary {
  if (!Array.isArray(inputShape) || !inputShape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new ValueError(`summary: inputShape must be an array of positive integers (one sample, no batch dimension), got ${JSON.stringify(inputShape)}`);
  }
  const batchSize = opts.batchSize ?? 1;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new ValueError(`summary: batchSize must be a positive integer, got ${String(opts.batchSize)}`);
  const modules = model.namedModules();
  const shapes = new Map<AnyModule, number[]>();
  const patched: AnyModule[] = [];
  for (const [, m] of modules) {
    if (Object.prototype.hasOwnProperty.call(m, 'forward')) continue; // already patched by the user: leave it
    const orig = m.forward;
    (m as { forward: AnyModule['forward'] }).forward = function (this: AnyModule, ...args: unknown[]) {
      const out = orig.apply(m, args);
      const t = firstTensor(out);
      if (t && !shapes.has(m)) shapes.set(m, [...t.shape]);
      return out;
    };
    patched.push(m);
  }
  const wasTraining = model.training;
  let out: unknown;
  try {
    model.eval();
    out = noGrad(() => model.forward(zeros([batchSize, ...inputShape], { dtype: opts.dtype ?? 'float32' })));
  } catch (e) {
    const msg = (e as Error).message;
    throw new ShapeError(`summary: the model does not accept input of shape [${[batchSize, ...inputShape].join(', ')}]: ${msg}`);
  } finally {
    for (const m of patched) delete (m as { forward?: unknown }).forward;
    model.train(wasTraining);
  }
  const layers: LayerSummary[] = modules.map(([name, m]) => {
    let params = 0;
    let trainable = 0;
    for (const [pn, p] of m.namedParameters()) {
      if (pn.includes('.')) continue; // a child's
      params += p.numel();
      if (p.requiresGrad) trainable += p.numel();
    }
    return { name, type: m.constructor.name, depth: name === '' ? 0 : name.split('.').length, outputShape: shapes.get(m) ?? null, params, trainable };
  });
  let paramBytes = 0;
  for (const [, t] of model.stateDict()) paramBytes += t.numel() * bytesPerElement(t.dtype);
  const final = firstTensor(out);
  return {
    inputShape: [...inputShape],
    batchSize,
    layers,
    totalParams: model.numParameters(),
    trainableParams: model.numParameters({ trainableOnly: true }),
    paramBytes,
    outputShape: final ? [...final.shape] : [],
  };
}

const fmtInt = (n: number): string => n.toLocaleString('en-US');

/** The summary as a text table (Keras/torchinfo layout). */
export function formatSummary(s: ModelSummary): string {
  const rows = s.layers
    .filter((l) => l.name !== '' || s.layers.length === 1)
    .map((l) => [`${'  '.repeat(Math.max(0, l.depth - 1))}${l.name} (${l.type})`, l.outputShape ? `[${l.outputShape.join(', ')}]` : '--', fmtInt(l.params)]);
  const head = ['Layer (type)', 'Output shape', 'Param #'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `${r[0]!.padEnd(w[0]!)}  ${r[1]!.padEnd(w[1]!)}  ${r[2]!.padStart(w[2]!)}`;
  const rule = '='.repeat(w[0]! + w[1]! + w[2]! + 4);
  return [
    rule,
    line(head),
    rule,
    ...rows.map(line),
    rule,
    `Input shape: [${[s.batchSize, ...s.inputShape].join(', ')}]`,
    `Total params: ${fmtInt(s.totalParams)}`,
    `Trainable params: ${fmtInt(s.trainableParams)}`,
    `Non-trainable params: ${fmtInt(s.totalParams - s.trainableParams)}`,
    `Params + buffers size: ${(s.paramBytes / 1024 / 1024).toFixed(2)} MB`,
    rule,
  ].join('\n');
}
