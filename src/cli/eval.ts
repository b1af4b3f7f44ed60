// `nabla eval <model-dir>`: loss, accuracy, per-class precision/recall/F1 and the confusion matrix.

import { setBackend } from '../backend/backend.js';
import { DataLoader } from '../data/loader.js';
import '../index.js';
import { loadModelDir, type LoadedModel } from '../io/model-dir.js';
import { crossEntropy } from '../nn/index.js';
import type { Tensor } from '../tensor.js';
import { evaluate, formatConfusionMatrix, formatReport } from '../train/index.js';
import { prepareDataset } from './datasets.js';
import { UsageError } from './errors.js';

export function loadForCli(dir: string, backend?: string): LoadedModel {
  if (backend) {
    try {
      setBackend(backend);
    } catch (e) {
      throw new UsageError(`--backend: ${(e as Error).message}`);
    }
  }
  return loadModelDir(dir);
}

export async function runEval(dir: string, opts: { dataset?: string; labelColumn: string; backend?: string; json?: boolean }): Promise<void> {
  const { model, meta } = loadForCli(dir, opts.backend);
  const trainedOn = typeof meta.training?.dataset === 'string' ? meta.training.dataset : undefined;
  const spec = opts.dataset ?? trainedOn;
  if (!spec) throw new UsageError('eval: the model does not record its dataset; pass --dataset');
  if (meta.output !== 'logits') throw new UsageError('eval: this model outputs one probability; `nabla eval` reports multi-class metrics for models that output logits');
  const data = await prepareDataset(spec, {
    layout: meta.input.shape.length === 3 ? 'image' : 'flat',
    normalize: meta.input.normalize,
    seed: typeof meta.training?.seed === 'number' ? meta.training.seed : 0,
    labelColumn: opts.labelColumn,
    target: 'index',
  });
  const want = meta.input.shape.reduce((a, b) => a * b, 1);
  const got = data.input.shape.reduce((a, b) => a * b, 1);
  if (want !== got) throw new UsageError(`eval: the model expects inputs of shape [${meta.input.shape.join(', ')}], the dataset ${spec} has [${data.input.shape.join(', ')}]`);
  const r = evaluate(model, new DataLoader(data.test, { batchSize: 1000 }), {
    loss: (o: Tensor, y: Tensor) => crossEntropy(o, y),
    classNames: meta.classes,
    numClasses: meta.classes.length,
  });
  if (opts.json) {
    process.stdout.write(JSON.stringify({ dataset: spec, samples: r.samples, loss: r.loss, accuracy: r.accuracy, macro: r.macro, perClass: r.perClass, confusion: r.confusion }) + '\n');
    return;
  }
  console.log(`${dir} on ${spec} (test split, ${r.samples} samples): accuracy ${(r.accuracy * 100).toFixed(2)}%, loss ${r.loss.toFixed(4)}`);
  console.log(formatReport(r.report));
  console.log('confusion matrix (rows: true, columns: predicted)');
  console.log(formatConfusionMatrix(r.confusion, meta.classes));
}
