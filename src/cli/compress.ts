// `nabla compress <model-dir> --out DIR`: prune (unstructured or structured, optionally fine-tuned
// with the train command's data flags), quantise to int8 (static, calibrated; or dynamic), or both;
// then write the new model directory and a report: size, test accuracy and latency (batch 1 and
// 256) before and after. Checks everything it can before writing; the output appears atomically.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setBackend } from '../backend/backend.js';
import { DataLoader } from '../data/loader.js';
import '../index.js';
import { loadModelDir } from '../io/model-dir.js';
import { saveModelDir } from '../io/model-dir.js';
import type { WeightsDtype } from '../io/half.js';
import { crossEntropy, Conv2d, Linear, type Module } from '../nn/index.js';
import { Adam } from '../optim/index.js';
import { Generator, manualSeed, randperm } from '../random.js';
import type { Tensor } from '../tensor.js';
import { fit, type Callback } from '../train/index.js';
import { chainOf } from '../io/onnx/export.js';
import { applyMask, pruneStructured, pruneUnstructured, type PruneReport } from '../compress/prune.js';
import { quantizeModel } from '../compress/quantized.js';
import { convertQat, prepareQat } from '../compress/qat.js';
import { saveQuantizedDir } from '../compress/quant-dir.js';
import { accuracyOf, compareMeasures, formatReport, latencyMs, type CompressReport, type Measure } from '../compress/report.js';
import { prepareDataset, type PreparedData } from './datasets.js';
import { UsageError } from './errors.js';
import { isTextModelDir } from '../models/text-load.js';

export interface CompressArgs {
  out: string;
  prune?: 'unstructured' | 'structured';
  sparsity?: number;
  pruneScope?: 'global' | 'layer';
  finetuneEpochs?: number;
  qatEpochs?: number;
  quantize?: 'static' | 'dynamic' | 'none';
  observer?: 'minmax' | 'percentile' | 'entropy';
  percentile?: number;
  /** Linear inputs to 7 bits (commander's --no-reduce-range sets false). */
  reduceRange?: boolean;
  calibrationSamples?: number;
  dataset?: string;
  labelColumn: string;
  batchSize?: number;
  lr?: number;
  seed: number;
  weightsDtype?: WeightsDtype;
  backend?: string;
  latencyReps?: number;
  json?: boolean;
}

function fileBytes(dir: string): number {
  return statSync(join(dir, 'model.safetensors')).size;
}

function measure(model: Module, dir: string, shape: number[], data: PreparedData | undefined, reps: number): Measure {
  model.eval();
  return {
    bytes: fileBytes(dir),
    accuracy: data ? accuracyOf(model, new DataLoader(data.test, { batchSize: 1000 })) : null,
    latencyMs: { batch1: latencyMs(model, shape, 1, reps * 10), batch256: latencyMs(model, shape, 256, reps) },
  };
}

export async function runCompress(dir: string, a: CompressArgs): Promise<void> {
  if (a.backend) {
    try {
      setBackend(a.backend);
    } catch (e) {
      throw new UsageError(`--backend: ${(e as Error).message}`);
    }
  }
  const quantize = a.quantize ?? (a.prune ? 'none' : 'static');
  if (!a.prune && quantize === 'none') throw new UsageError('compress: nothing to do; pass --prune unstructured|structured and/or --quantize static|dynamic');
  if (a.sparsity !== undefined && !a.prune) throw new UsageError('--sparsity applies to --prune; pass --prune unstructured|structured');
  if (a.finetuneEpochs && !a.prune) throw new UsageError('--finetune-epochs applies after --prune');
  if (a.qatEpochs && quantize !== 'static') throw new UsageError(`--qat-epochs trains for static int8 quantisation; it does not apply with --quantize ${quantize}`);
  if (a.qatEpochs && (a.observer || a.percentile !== undefined || a.calibrationSamples !== undefined)) throw new UsageError('--qat-epochs observes the ranges while training; --observer, --percentile and --calibration-samples apply to calibration without it');
  if (quantize !== 'none' && a.weightsDtype && a.weightsDtype !== 'f32') throw new UsageError('--weights-dtype applies to float outputs; an int8 model stores int8 weights');
  if (existsSync(join(a.out, 'manifest.json'))) throw new UsageError(`--out ${a.out} already holds a model directory; choose another --out`);

  const loaded = loadModelDir(dir);
  const { model, meta } = loaded;
  if ((meta as { quantization?: unknown }).quantization !== undefined) throw new UsageError(`${dir} is already quantised; compress its float model`);
  if (isTextModelDir(loaded)) {
    const { runCompressText } = await import('./compress-text.js');
    return runCompressText(dir, loaded, a, a.json ? (s: string) => process.stderr.write(s + '\n') : (s: string) => console.log(s));
  }
  const trainedOn = typeof meta.training?.dataset === 'string' ? meta.training.dataset : undefined;
  const spec = a.dataset ?? trainedOn;
  const needData = (a.finetuneEpochs ?? 0) > 0 || quantize === 'static' || (a.qatEpochs ?? 0) > 0;
  if (needData && !spec) {
    throw new UsageError(`compress: ${quantize === 'static' ? 'static quantisation needs calibration samples' : 'fine-tuning needs training data'} and the model does not record its dataset; pass --dataset (or --quantize dynamic)`);
  }
  const data = spec
    ? await prepareDataset(spec, {
        layout: meta.input.shape.length === 3 ? 'image' : 'flat',
        normalize: meta.input.normalize,
        seed: a.seed,
        labelColumn: a.labelColumn,
        target: 'index',
      })
    : undefined;
  const reps = a.latencyReps ?? 5;
  const say = a.json ? (s: string) => process.stderr.write(s + '\n') : (s: string) => console.log(s);
  say(`nabla compress: measuring ${dir}${data ? ` on ${spec} (${data.test.length} test samples)` : ''}`);
  const before = measure(model, dir, meta.input.shape, data, reps);

  let work: Module = model;
  let pruning: PruneReport | undefined;
  let masks: Map<string, Float32Array> | undefined;
  // Training after pruning or for quantisation-aware training: the model's data, Adam, and the
  // pruning masks re-applied after every step so pruned weights stay zero.
  const fineTune = (epochs: number, what: string): void => {
    manualSeed(a.seed);
    const batchSize = a.batchSize ?? (typeof meta.training?.batchSize === 'number' ? meta.training.batchSize : 64);
    const lr = a.lr ?? 1e-4;
    const callbacks: Callback[] = [];
    if (masks) {
      const byPrefix = new Map(chainOf(work).map((c) => [c.prefix, c.layer]));
      callbacks.push({ name: 'PruneMask', onBatchEnd: () => { for (const [p, m] of masks!) applyMask(byPrefix.get(p) as Linear | Conv2d, m); } });
    }
    say(`${what} ${epochs} epoch(s), Adam lr ${lr}, batch ${batchSize}`);
    work.train();
    fit(work, new DataLoader(data!.train, { batchSize, shuffle: true, generator: new Generator(a.seed + 2) }), {
      epochs,
      optimizer: new Adam(work.parameters(), { lr }),
      loss: (o: Tensor, y: Tensor) => crossEntropy(o, y),
      callbacks,
      seed: a.seed,
      log: say,
    });
    work.eval();
  };
  if (a.prune) {
    const sparsity = a.sparsity ?? 0.5;
    if (a.prune === 'unstructured') ({ masks, report: pruning } = pruneUnstructured(work, { sparsity, scope: a.pruneScope ?? 'global' }));
    else ({ model: work, report: pruning } = pruneStructured(work, meta.input.shape, { sparsity }));
    if (a.finetuneEpochs) fineTune(a.finetuneEpochs, 'fine-tuning');
  }

  const saveMeta = { input: meta.input, output: meta.output, classes: meta.classes, training: { ...(meta.training ?? {}), compressedFrom: dir } };
  let quantSummary: CompressReport['quantization'];
  let outModel: Module;
  if (quantize !== 'none') {
    let calibration: Tensor | undefined;
    if (quantize === 'static' && !a.qatEpochs) {
      const n = Math.min(a.calibrationSamples ?? 256, data!.train.length);
      // a seeded random subset: files are often sorted by class
      const order = randperm(data!.train.length, { generator: new Generator(a.seed + 3) }).toTypedArray() as Int32Array;
      const [x] = data!.train.getBatch(order.slice(0, n)) as [Tensor, Tensor];
      calibration = x;
    }
    let qat: ReturnType<typeof convertQat> | undefined;
    if (a.qatEpochs) {
      prepareQat(work, { reduceRange: a.reduceRange !== false });
      fineTune(a.qatEpochs, 'quantisation-aware training (fake int8 weights and inputs)');
      qat = convertQat(work);
    }
    const { model: q, spec: qs } = qat ?? quantizeModel(work, { mode: quantize, calibration, observer: a.observer, percentile: a.percentile, reduceRange: a.reduceRange !== false });
    saveQuantizedDir(a.out, q, qs, work, saveMeta);
    quantSummary = { mode: qs.mode, activations: qs.activations, layers: qs.layers.map((l) => `${l.prefix} (${l.type})`) };
    outModel = loadModelDir(a.out).model; // measure what was written, as predict/serve will load it
  } else {
    saveModelDir(a.out, work, saveMeta, { weightsDtype: a.weightsDtype });
    outModel = loadModelDir(a.out).model;
  }
  const after = measure(outModel, a.out, meta.input.shape, data, reps);
  const report = compareMeasures(before, after, {
    pruning: pruning && { method: pruning.method, sparsity: pruning.sparsity, layers: pruning.layers },
    quantization: quantSummary,
    finetuneEpochs: a.finetuneEpochs ?? 0,
    qatEpochs: a.qatEpochs ?? 0,
  });
  if (a.json) process.stdout.write(JSON.stringify({ out: a.out, ...report }) + '\n');
  else {
    say(formatReport(report));
    say(`compressed model saved to ${a.out}`);
  }
}
