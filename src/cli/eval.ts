// `nabla eval <model-dir>`: loss, accuracy, per-class precision/recall/F1 and the confusion matrix.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setBackend } from '../backend/backend.js';
import { DataLoader } from '../data/loader.js';
import '../index.js';
import { loadModelDir, type LoadedModel } from '../io/model-dir.js';
import { crossEntropy } from '../nn/index.js';
import type { Tensor } from '../tensor.js';
import { evaluateAsync, formatConfusionMatrix, formatReport } from '../train/index.js';
import { prepareDataset, type CsvModelSpec } from './datasets.js';
import { UsageError } from './errors.js';

export interface LoadOptions {
  backend?: string;
  /** Load weights holding NaN or ±Inf (refused by default). */
  allowNonFinite?: boolean;
}

/** A run directory (runs/latest) stands for the model it holds (runs/latest/model). */
export function resolveModelDir(dir: string): string {
  if (!existsSync(join(dir, 'manifest.json')) && existsSync(join(dir, 'run.json')) && existsSync(join(dir, 'model', 'manifest.json'))) {
    return join(dir, 'model');
  }
  return dir;
}

export function loadForCli(dir: string, opts: LoadOptions = {}): LoadedModel {
  if (opts.backend) {
    try {
      setBackend(opts.backend);
    } catch (e) {
      throw new UsageError(`--backend: ${(e as Error).message}`);
    }
  }
  // One policy for non-finite weights everywhere (eval, predict, serve): refuse unless asked.
  const allow = opts.allowNonFinite === true;
  const loadOpts: Parameters<typeof loadModelDir>[1] = { allowNonFinite: allow };
  return loadModelDir(resolveModelDir(dir), loadOpts);
}

export async function runEval(dir: string, opts: { dataset?: string; labelColumn: string; textColumn?: string; backend?: string; device?: string; json?: boolean; allowNonFinite?: boolean }): Promise<void> {
  const loaded = loadForCli(dir, opts);
  if (loaded.meta.input.kind === 'text') {
    if (opts.device !== undefined && opts.device !== 'cpu') throw new UsageError(`--device ${opts.device}: text models are evaluated on the CPU; --device applies to image and tabular models`);
    // Text models: their tokenizer, dataset columns and maximum length (src/cli/eval-text.ts).
    const { runEvalText } = await import('./eval-text.js');
    return runEvalText(dir, loaded, { ...opts, labelColumn: opts.labelColumn === 'label' && opts.dataset === undefined ? undefined : opts.labelColumn });
  }
  const { model, meta } = loaded;
  const training = meta.training ?? {};
  const trainedOn = typeof training.dataset === 'string' ? training.dataset : undefined;
  const spec = opts.dataset ?? trainedOn;
  if (!spec) throw new UsageError('eval: the model does not record its dataset; pass --dataset');
  if (meta.output !== 'logits') throw new UsageError('eval: this model outputs one probability; `nabla eval` reports multi-class metrics for models that output logits');
  // A CSV is read in the model's terms: its class names, feature columns and standardisation. The
  // training file gives its seeded test split; any other file is evaluated whole.
  const isCsv = spec.toLowerCase().endsWith('.csv');
  const sameAsTraining = trainedOn !== undefined && resolve(spec) === resolve(trainedOn);
  const csvModel: CsvModelSpec | undefined = isCsv
    ? {
      classes: meta.classes,
      featureNames: Array.isArray(training.features) ? (training.features as string[]) : undefined,
      standardize: meta.input.standardize,
      allRows: !sameAsTraining,
    }
    : undefined;
  const data = await prepareDataset(spec, {
    layout: meta.input.shape.length === 3 ? 'image' : 'flat',
    normalize: meta.input.normalize,
    seed: typeof training.seed === 'number' ? training.seed : 0,
    labelColumn: opts.labelColumn,
    target: 'index',
    model: csvModel,
  });
  const want = meta.input.shape.reduce((a, b) => a * b, 1);
  const got = data.input.shape.reduce((a, b) => a * b, 1);
  if (want !== got) throw new UsageError(`eval: the model expects inputs of shape [${meta.input.shape.join(', ')}], the dataset ${spec} has [${data.input.shape.join(', ')}]`);
  if (!isCsv && data.classes.join('\u0000') !== meta.classes.join('\u0000')) {
    throw new UsageError(`eval: the dataset ${spec} has classes [${data.classes.join(', ')}], the model [${meta.classes.join(', ')}]`);
  }
  const split = isCsv && !sameAsTraining ? 'all rows' : 'test split';
  // --device: the forward passes run there; the metrics are computed on the logits read back.
  const { placeModel } = await import('./train.js');
  await placeModel(model, opts.device);
  const r = await evaluateAsync(model, new DataLoader(data.test, { batchSize: 1000 }), {
    loss: (o: Tensor, y: Tensor) => crossEntropy(o, y),
    classNames: meta.classes,
    numClasses: meta.classes.length,
  });
  if (opts.json) {
    process.stdout.write(JSON.stringify({ dataset: spec, split, samples: r.samples, loss: r.loss, accuracy: r.accuracy, macro: r.macro, perClass: r.perClass, confusion: r.confusion }) + '\n');
    return;
  }
  console.log(`${dir} on ${spec} (${split}, ${r.samples} samples): accuracy ${(r.accuracy * 100).toFixed(2)}%, loss ${r.loss.toFixed(4)}`);
  console.log(formatReport(r.report));
  console.log('confusion matrix (rows: true, columns: predicted)');
  console.log(formatConfusionMatrix(r.confusion, meta.classes));
}
