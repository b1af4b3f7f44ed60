// Pruning a layer chain (a Sequential, as model files hold):
//   unstructured  zero the smallest-magnitude weights of Linear/Conv2d layers, over all of them at
//                 once (global) or layer by layer, to a target sparsity; shapes are unchanged.
//   structured    remove whole output neurons (Linear) / channels (Conv2d) with the smallest L2
//                 norm, so the layers really shrink, and cut the matching inputs of the next
//                 Linear/Conv2d (through activations, pooling, BatchNorm and Flatten between them).
// The last weighted layer (the class outputs) is never pruned structurally.

import { noGrad } from '../autograd.js';
import { ValueError } from '../errors.js';
import { Conv2d, Linear, Sequential, buildModule, describe, type Module } from '../nn/index.js';
import { tensor, zeros, type Tensor } from '../tensor.js';
import { chainOf } from '../io/onnx/export.js';

export interface UnstructuredOptions {
  /** Fraction of weights set to zero, in [0, 1). */
  sparsity: number;
  /** 'global': one threshold over all weighted layers; 'layer': the same fraction in each. */
  scope?: 'global' | 'layer';
}

export interface PruneReport {
  method: 'unstructured' | 'structured';
  /** Per weighted layer: its prefix, type, and weights (or output units) before and after. */
  layers: { layer: string; type: string; before: number; after: number; kept?: number[] }[];
  /** Fraction of zero (unstructured) or removed (structured) weights over the weighted layers. */
  sparsity: number;
}

const weighted = (m: Module): m is Linear | Conv2d => m instanceof Linear || m instanceof Conv2d;

function checkSparsity(s: number): void {
  if (!(typeof s === 'number' && s >= 0 && s < 1)) throw new ValueError(`sparsity must be a number in [0, 1), got ${s}`);
}

/** The k-th smallest value (0-based) of a copy of `a`. */
function kth(a: Float32Array, k: number): number {
  return Float32Array.from(a).sort()[k]!;
}

/** Zeroes the smallest-|w| fraction of weights in place; returns masks (1 = kept) by layer prefix. */
export function pruneUnstructured(model: Module, opts: UnstructuredOptions): { masks: Map<string, Float32Array>; report: PruneReport } {
  checkSparsity(opts.sparsity);
  const layers = chainOf(model).filter(({ layer }) => weighted(layer)) as { layer: Linear | Conv2d; prefix: string }[];
  if (layers.length === 0) throw new ValueError('pruning: the model has no Linear or Conv2d layer');
  const mags = layers.map(({ layer }) => (layer.weight.toTypedArray() as Float32Array).map(Math.abs));
  const thresholds: number[] = [];
  if ((opts.scope ?? 'global') === 'global') {
    const all = new Float32Array(mags.reduce((n, m) => n + m.length, 0));
    let o = 0;
    for (const m of mags) all.set(m, (o += m.length) - m.length);
    const k = Math.floor(opts.sparsity * all.length);
    const t = k === 0 ? -1 : kth(all, k - 1);
    layers.forEach(() => thresholds.push(t));
  } else {
    for (const m of mags) {
      const k = Math.floor(opts.sparsity * m.length);
      thresholds.push(k === 0 ? -1 : kth(m, k - 1));
    }
  }
  const masks = new Map<string, Float32Array>();
  const report: PruneReport = { method: 'unstructured', layers: [], sparsity: 0 };
  let zeroed = 0, total = 0;
  layers.forEach(({ layer, prefix }, i) => {
    const m = mags[i]!;
    const mask = new Float32Array(m.length);
    let kept = 0;
    // ties at the threshold are pruned too, so the target is met or slightly exceeded
    for (let j = 0; j < m.length; j++) if (m[j]! > thresholds[i]!) (mask[j] = 1), kept++;
    applyMask(layer, mask);
    masks.set(prefix, mask);
    report.layers.push({ layer: prefix, type: layer.constructor.name, before: m.length, after: kept });
    zeroed += m.length - kept;
    total += m.length;
  });
  report.sparsity = zeroed / total;
  return { masks, report };
}

/** w ← w · mask (used after each fine-tuning step, so pruned weights stay zero). */
export function applyMask(layer: Linear | Conv2d, mask: Float32Array): void {
  noGrad(() => layer.weight.copy_(layer.weight.mul(tensor(mask, { shape: [...layer.weight.shape] }))));
}

export interface StructuredOptions {
  /** Fraction of output neurons/channels removed from each prunable layer, in [0, 1). */
  sparsity: number;
}

/** Rows (dim 0) of t kept, as a new tensor. */
function takeRows(t: Tensor, keep: number[]): Tensor {
  const src = t.toTypedArray() as Float32Array;
  const row = src.length / t.shape[0]!;
  const out = new Float32Array(keep.length * row);
  keep.forEach((r, i) => out.set(src.subarray(r * row, (r + 1) * row), i * row));
  return tensor(out, { shape: [keep.length, ...t.shape.slice(1)] });
}

/** Columns (dim 1) of t kept (in blocks of `inner` trailing elements each). */
function takeCols(t: Tensor, keep: number[]): Tensor {
  const src = t.toTypedArray() as Float32Array;
  const rows = t.shape[0]!;
  const cols = t.shape[1]!;
  const inner = src.length / (rows * cols);
  const out = new Float32Array(rows * keep.length * inner);
  for (let r = 0; r < rows; r++) {
    keep.forEach((c, i) => out.set(src.subarray((r * cols + c) * inner, (r * cols + c + 1) * inner), (r * keep.length + i) * inner));
  }
  return tensor(out, { shape: [rows, keep.length, ...t.shape.slice(2)] });
}

/** Units of a weighted layer ranked by the L2 norm of their weights; the strongest `n` kept, in order. */
function strongest(w: Tensor, n: number): number[] {
  const a = w.toTypedArray() as Float32Array;
  const row = a.length / w.shape[0]!;
  const norms = Array.from({ length: w.shape[0]! }, (_, o) => {
    let s = 0;
    for (let j = o * row; j < (o + 1) * row; j++) s += a[j]! * a[j]!;
    return [s, o] as const;
  });
  norms.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
  return norms.slice(0, n).map(([, o]) => o).sort((x, y) => x - y);
}

/**
 * Removes the weakest output units of every weighted layer but the last and returns a new, smaller
 * model (the input model is not changed), with its description and a report. `sampleShape` is
 * one input sample's shape (to trace what Flatten does to channels).
 */
export function pruneStructured(model: Module, sampleShape: readonly number[], opts: StructuredOptions): { model: Sequential; report: PruneReport } {
  checkSparsity(opts.sparsity);
  const chain = chainOf(model);
  const weightedIdx = chain.flatMap(({ layer }, i) => (weighted(layer) ? [i] : []));
  if (weightedIdx.length < 2) throw new ValueError('structured pruning needs at least two Linear/Conv2d layers (the last, the outputs, is kept whole)');
  // Trace shapes (batch 1) so a Flatten knows how many features each channel becomes.
  const shapes: number[][] = [];
  model.eval();
  noGrad(() => {
    let x: Tensor = zeros([1, ...sampleShape]);
    for (const { layer } of chain) {
      shapes.push([...x.shape]);
      x = layer.forward(x) as Tensor;
    }
  });
  // Work on descriptions and state dicts, then rebuild: the layers' sizes are constructor fields.
  const descs = chain.map(({ layer }) => describe(layer) as Record<string, unknown>);
  const states = chain.map(({ layer }) => new Map([...layer.stateDict()].map(([k, t]) => [k, tensor(t.toTypedArray(), { shape: [...t.shape], dtype: t.dtype })])));
  const report: PruneReport = { method: 'structured', layers: [], sparsity: 0 };
  let removed = 0, total = 0;
  for (let w = 0; w < weightedIdx.length - 1; w++) {
    const i = weightedIdx[w]!;
    const sd = states[i]!;
    const W = sd.get('weight')!;
    const units = W.shape[0]!;
    const keepN = Math.max(1, units - Math.floor(opts.sparsity * units));
    const keep = strongest(W, keepN);
    sd.set('weight', takeRows(W, keep));
    if (sd.has('bias')) sd.set('bias', takeRows(sd.get('bias')!, keep));
    const d = descs[i]!;
    if (d.type === 'Linear') d.outFeatures = keepN;
    else d.outChannels = keepN;
    report.layers.push({ layer: chain[i]!.prefix, type: String(d.type), before: units, after: keepN, kept: keep });
    total += W.numel();
    removed += W.numel() - (W.numel() / units) * keepN;
    // Carry the cut forward to the next weighted layer's inputs.
    let idx = keep;
    for (let j = i + 1; j < chain.length; j++) {
      const dj = descs[j]!;
      const sj = states[j]!;
      if (dj.type === 'BatchNorm1d' || dj.type === 'BatchNorm2d') {
        for (const k of ['weight', 'bias', 'running_mean', 'running_var']) if (sj.has(k)) sj.set(k, takeRows(sj.get(k)!, idx));
        dj.numFeatures = idx.length;
        continue;
      }
      if (dj.type === 'Flatten') {
        const s = shapes[j]!;
        const per = s.slice(2).reduce((a, b) => a * b, 1); // features per channel after flattening
        idx = idx.flatMap((c) => Array.from({ length: per }, (_, t) => c * per + t));
        continue;
      }
      if (dj.type === 'Linear' || dj.type === 'Conv2d') {
        if (dj.type === 'Conv2d' && (dj.groups as number) !== 1) throw new ValueError(`structured pruning: layer ${chain[j]!.prefix} is a grouped convolution; its inputs cannot be cut independently`);
        const Wj = sj.get('weight')!;
        if (Wj.shape[1] !== shapes[j]![1] && dj.type === 'Conv2d') throw new ValueError('structured pruning: channel mismatch');
        sj.set('weight', takeCols(Wj, idx));
        if (dj.type === 'Linear') dj.inFeatures = idx.length;
        else dj.inChannels = idx.length;
        break;
      }
      if (['ReLU', 'LeakyReLU', 'Sigmoid', 'Tanh', 'Dropout', 'Identity', 'MaxPool2d', 'AvgPool2d'].includes(String(dj.type))) continue;
      throw new ValueError(`structured pruning: cannot carry a channel cut through layer ${chain[j]!.prefix} (${String(dj.type)})`);
    }
  }
  const layers = descs.map((d, i) => {
    const m = buildModule(d);
    const sd = states[i]!;
    if (sd.size > 0) m.loadStateDict(sd);
    return m;
  });
  const out = new Sequential(...layers);
  out.eval();
  report.sparsity = removed / total;
  return { model: out, report };
}

/** Fraction of exactly-zero weights over the Linear/Conv2d layers. */
export function weightSparsity(model: Module): number {
  let z = 0, n = 0;
  for (const { layer } of chainOf(model)) {
    if (!weighted(layer)) continue;
    const a = layer.weight.toTypedArray();
    for (let i = 0; i < a.length; i++) if (a[i] === 0) z++;
    n += a.length;
  }
  return n === 0 ? 0 : z / n;
}
