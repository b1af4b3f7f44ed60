// Training with the model on a device (model.to('webgpu')): which device a model is on, moving a
// model and its optimiser's state between devices asynchronously (a GPU's values only come back
// that way), and the pieces of fit() that read values back: a step's loss and outputs are copied
// to the host without waiting (the copies are awaited every few steps, so the device is not
// stalled once per step), and validation reads every batch's outputs back at once.

import { noGrad } from '../autograd.js';
import { allocate } from '../dtype.js';
import { DeviceError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { toDevice, toDeviceAsync } from '../ops/device.js';
import type { Optimizer } from '../optim/optimizer.js';
import { Tensor, rebind } from '../tensor.js';
import type { BatchLoader, BatchMetric, EvaluateOptions, EvaluateResult } from './evaluate.js';
import { EvaluationSums, defaultMetrics, evaluate, inEvalMode, splitBatch } from './evaluate.js';

export const HOST = 'cpu';

/** The device a model's parameters are on ('cpu' for a model without any); all must agree. */
export function modelDevice(model: Module): string {
  let device: string | undefined;
  for (const p of [...model.parameters(), ...model.buffers()]) {
    if (device === undefined) device = p.device;
    else if (p.device !== device) throw new DeviceError(`the model's tensors are on several devices (${device} and ${p.device}); move the whole model with model.to(device)`);
  }
  return device ?? HOST;
}

/** Every tensor that training state holds: parameters, buffers, gradients, optimiser moments. */
function stateTensors(model: Module, optimizer?: Optimizer): Tensor[] {
  const out: Tensor[] = [...model.parameters(), ...model.buffers()];
  for (const p of model.parameters()) if (p.grad) out.push(p.grad);
  if (optimizer) {
    for (const s of optimizer.state.values()) {
      for (const v of Object.values(s as Record<string, unknown>)) if (v instanceof Tensor) out.push(v);
    }
  }
  return [...new Set(out)];
}

/**
 * Moves a model (and an optimiser's state) to `device` in place, as Module.to(device) does, on
 * any pair of devices: values on a GPU are read back asynchronously. PyTorch's model.to(device).
 */
export async function moveToAsync(model: Module, device: string, optimizer?: Optimizer): Promise<void> {
  const ts = stateTensors(model, optimizer).filter((t) => t.device !== device);
  // Every read is started before any is awaited: one wait for the device, not one per tensor.
  const moved = await Promise.all(ts.map((t) => noGrad(() => toDeviceAsync(t.detach(), device))));
  ts.forEach((t, i) => rebind(t, moved[i]!.storage, moved[i]!.strides, moved[i]!.offset));
}

/** The same, synchronously: for moves that need no readback (host → device). */
export function moveTo(model: Module, device: string, optimizer?: Optimizer): void {
  for (const t of stateTensors(model, optimizer)) {
    if (t.device === device) continue;
    const m = noGrad(() => toDevice(t.detach(), device));
    rebind(t, m.storage, m.strides, m.offset);
  }
}

/** Points every state tensor at fresh host zeros without reading the device (before a restore
 *  overwrites them all). */
export function dropToHost(model: Module, optimizer?: Optimizer): void {
  for (const t of stateTensors(model, optimizer)) {
    if (t.device === HOST) continue;
    const s = [...t.shape];
    const strides = s.map((_, i) => s.slice(i + 1).reduce((a, b) => a * b, 1));
    rebind(t, allocate(t.dtype, t.numel()), strides, 0);
  }
}

/** A step's values on their way back from the device: awaited together, every few steps. */
export interface PendingStep {
  step: number;
  batch: number;
  batchSize: number;
  loss: Promise<number>;
  /** Host copies of the output and the target, for the metrics (null without metrics). */
  output: Promise<Tensor> | null;
  target: Promise<Tensor> | null;
  // Filled in when awaited.
  lossValue?: number;
  outputHost?: Tensor;
  targetHost?: Tensor;
}

/** A host copy of t, started now (t itself on the host). */
export const hostCopy = (t: Tensor): Promise<Tensor> => (t.device === HOST ? Promise.resolve(t) : noGrad(() => toDeviceAsync(t.detach(), HOST)));

/** Awaits the pending steps' reads and stores the values on them. */
export async function readPending(steps: PendingStep[]): Promise<void> {
  await Promise.all(steps.map(async (p) => {
    p.lossValue = await p.loss;
    if (p.output) p.outputHost = await p.output;
    if (p.target) p.targetHost = await p.target;
  }));
}

/**
 * fit()'s validation with the model on a device: every batch's forward is recorded first and its
 * outputs read back together; loss and metrics are computed on the host copies.
 */
export async function evaluateOnDevice(
  model: Module,
  loader: BatchLoader,
  device: string,
  lossFn: (output: Tensor, target: Tensor) => Tensor,
  metrics: Record<string, BatchMetric> | null,
): Promise<{ loss: number; metrics: Record<string, number>; samples: number; metricFns: Record<string, BatchMetric> }> {
  const reads = inEvalMode(model, () => {
    const rs: Promise<[Tensor, Tensor]>[] = [];
    for (const batch of loader) {
      const [x, y] = splitBatch(batch);
      const out = model.forward(x.device === device ? x : x.to(device)) as Tensor;
      rs.push(Promise.all([hostCopy(out), hostCopy(y)]));
    }
    return rs;
  });
  const batches = await Promise.all(reads);
  let lossSum = 0, n = 0;
  const sums: Record<string, number> = {};
  noGrad(() => {
    for (const [out, y] of batches) {
      const bs = out.shape[0] ?? 1;
      lossSum += lossFn(out, y).item() * bs;
      metrics ??= defaultMetrics(out, y);
      for (const [k, fn] of Object.entries(metrics)) sums[k] = (sums[k] ?? 0) + fn(out, y) * bs;
      n += bs;
    }
  });
  const m: Record<string, number> = {};
  for (const [k, v] of Object.entries(sums)) m[k] = v / Math.max(1, n);
  return { loss: n > 0 ? lossSum / n : NaN, metrics: m, samples: n, metricFns: metrics ?? {} };
}

/** Batch outputs of a model on a device, read back to the host together (inference, evaluation). */
export async function predictOnDevice(model: Module, xs: Iterable<Tensor>, device: string): Promise<Tensor[]> {
  const reads = inEvalMode(model, () => [...xs].map((x) => hostCopy(model.forward(x.device === device ? x : x.to(device)) as Tensor)));
  return Promise.all(reads);
}

/** Batches whose outputs evaluateAsync has in flight before it waits for them (bounds the memory). */
const EVAL_READ_EVERY = 16;

/**
 * evaluate() for a model on any device: on the host it is evaluate(); on a device each batch's
 * forward runs there and its logits are read back (a few batches' reads awaited together, so the
 * device is not stalled once per batch), and loss, accuracy and the report are computed on the
 * host copies. Same result as evaluate() on the host, to the device's float32 rounding.
 */
export async function evaluateAsync(model: Module, loader: BatchLoader, opts: EvaluateOptions = {}): Promise<EvaluateResult> {
  const device = modelDevice(model);
  if (device === HOST) return evaluate(model, loader, opts);
  const sums = new EvaluationSums(opts, 'evaluateAsync');
  let inFlight: Promise<[Tensor, Tensor]>[] = [];
  const drain = async () => {
    const done = await Promise.all(inFlight);
    inFlight = [];
    for (const [out, y] of done) sums.add(out, y);
  };
  const wasTraining = model.training;
  model.eval();
  try {
    for (const batch of loader) {
      const [x, y] = splitBatch(batch);
      const out = noGrad(() => model.forward(x.device === device ? x : x.to(device)) as Tensor);
      inFlight.push(Promise.all([hostCopy(out), hostCopy(y)]));
      if (inFlight.length >= EVAL_READ_EVERY) await drain();
    }
    await drain();
  } finally {
    model.train(wasTraining);
  }
  return sums.result();
}
