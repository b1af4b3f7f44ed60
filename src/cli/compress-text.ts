// `nabla compress` for text models (text-transformer, text-lstm, gpt): dynamic int8 quantisation of
// every Linear and LSTM, as torch.ao.quantization.quantize_dynamic does for BERT- and LSTM-style
// models (static calibration and pruning are for layer chains). The report compares the float and
// the int8 directory on the same data as `nabla eval` (test accuracy for a classifier, validation
// loss for a language model) and times a forward pass of token ids at batch 1 and 256.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelDir, type LoadedModel } from '../io/model-dir.js';
import { modelTokenizer, textMaxLength } from '../models/text-load.js';
import type { Module } from '../nn/index.js';
import { Generator } from '../random.js';
import { tensor } from '../tensor.js';
import { quantizeDynamicTree } from '../compress/quant-tree.js';
import { saveQuantizedTreeDir } from '../compress/quant-tree-dir.js';
import { compareMeasures, formatReport, latencyOf, type Measure } from '../compress/report.js';
import type { CompressArgs } from './compress.js';
import { scoreText, type TextScore } from './eval-text.js';
import { UsageError } from './errors.js';

/** Median forward time (ms) of `batch` random token-id sequences of length `len`. */
export function textLatencyMs(model: Module, vocab: number, len: number, batch: number, reps: number): number {
  const g = new Generator(batch); // own stream: the global one is left alone
  const ids = new Int32Array(batch * len);
  for (let i = 0; i < ids.length; i++) ids[i] = Math.min(vocab - 1, Math.floor(g.random() * vocab));
  return latencyOf(model, tensor(ids, { shape: [batch, len], dtype: 'int32' }), reps);
}

function measure(dir: string, loaded: LoadedModel, score: TextScore, reps: number): Measure {
  const vocab = modelTokenizer(loaded, dir).vocabSize;
  const len = textMaxLength(loaded);
  loaded.model.eval();
  return {
    bytes: statSync(join(dir, 'model.safetensors')).size,
    accuracy: score.task === 'classification' ? score.result.accuracy : null,
    loss: score.task === 'language-model' ? score.loss : score.result.loss,
    latencyMs: { batch1: textLatencyMs(loaded.model, vocab, len, 1, reps * 10), batch256: textLatencyMs(loaded.model, vocab, len, 256, reps) },
  };
}

export async function runCompressText(dir: string, loaded: LoadedModel, a: CompressArgs, say: (s: string) => void): Promise<void> {
  const kind = `${dir} is a text model (${loaded.meta.input.task ?? 'classification'})`;
  if (a.prune) throw new UsageError(`--prune: ${kind}; pruning applies to layer chains (mlp, cnn); compress a text model with --quantize dynamic`);
  const quantize = a.quantize ?? 'dynamic';
  if (quantize === 'static') throw new UsageError(`--quantize static: ${kind}; static calibration applies to layer chains; text models are quantised with --quantize dynamic (int8 Linear and LSTM weights, as torch.ao.quantization.quantize_dynamic)`);
  for (const [flag, v] of [['--observer', a.observer], ['--percentile', a.percentile], ['--calibration-samples', a.calibrationSamples]] as const) {
    if (v !== undefined) throw new UsageError(`${flag} applies to --quantize static; ${kind}, quantised dynamically (no calibration)`);
  }
  if (quantize !== 'dynamic') throw new UsageError('compress: nothing to do; pass --quantize dynamic');
  if (existsSync(join(a.out, 'manifest.json'))) throw new UsageError(`--out ${a.out} already holds a model directory; choose another --out`);
  const data = { dataset: a.dataset, labelColumn: a.dataset ? a.labelColumn : undefined };
  const reps = a.latencyReps ?? 5;

  say(`nabla compress: measuring ${dir} (text model)`);
  const beforeScore = await scoreText(dir, loaded, data);
  say(`  ${beforeScore.dataset}, ${beforeScore.split}`);
  const before = measure(dir, loaded, beforeScore, reps);

  // A fresh copy is quantised (in place), so `loaded` stays the float model the caller holds.
  const work = loadModelDir(dir);
  const files: Record<string, string> = {};
  for (const [name, bytes] of loaded.files ?? []) files[name] = bytes.toString('utf8');
  const { meta } = loaded;
  const saveMeta = { input: meta.input, output: meta.output, classes: meta.classes, training: { ...(meta.training ?? {}), compressedFrom: dir } };
  const spec = quantizeDynamicTree(work.model);
  saveQuantizedTreeDir(a.out, work.model, spec, saveMeta, files);
  const quantization = { mode: spec.mode, activations: spec.activations, layers: spec.layers.map((l) => `${l.prefix} (${l.type})`) };
  const out = loadModelDir(a.out); // measure what was written, as predict/serve/generate will load it
  const after = measure(a.out, out, await scoreText(a.out, out, data), reps);
  const report = compareMeasures(before, after, { quantization, finetuneEpochs: 0 });
  if (a.json) process.stdout.write(JSON.stringify({ out: a.out, ...report }) + '\n');
  else {
    say(formatReport(report));
    say(`compressed model saved to ${a.out}`);
  }
}
