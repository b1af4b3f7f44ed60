// `nabla predict <model-dir> <file.png ...>`: class and probabilities for each image.

import { existsSync } from 'node:fs';
import '../index.js';
import { pngFitFor, readPng, toMnistInput } from '../data/readers/png.js';
import { softmax } from '../ops/nn.js';
import { noGrad } from '../autograd.js';
import { tensor, type Tensor } from '../tensor.js';
import type { InputFit } from '../io/model-dir.js';
import { loadForCli } from './eval.js';
import { UsageError } from './errors.js';


export async function runPredict(dir: string, files: string[], opts: { backend?: string; json?: boolean; fit?: InputFit; allowNonFinite?: boolean; text?: string[] }): Promise<void> {
  const loaded = loadForCli(dir, opts);
  if (loaded.meta.input.kind === 'text') {
    if (files.length > 0) throw new UsageError(`predict: ${dir} is a text model; pass the text with --text "..." instead of files`);
    const { runPredictText } = await import('./eval-text.js');
    return runPredictText(dir, loaded, opts.text ?? [], opts);
  }
  if (opts.text !== undefined) throw new UsageError(`predict: --text applies to text models; ${dir} is a ${loaded.meta.input.kind} model`);
  if (files.length === 0) throw new UsageError(`predict: give one or more PNG files for the image model ${dir}`);
  const { model, meta } = loaded;
  if (meta.input.kind !== 'image') throw new UsageError(`predict: ${dir} is a ${meta.input.kind} model; PNG prediction needs an image model`);
  const shape = meta.input.shape;
  if (shape.reduce((a, b) => a * b, 1) !== 784) {
    throw new UsageError(`predict: ${dir} expects inputs of shape [${shape.join(', ')}]; PNG prediction supports 28×28 grey models (MNIST-style)`);
  }
  const fit = pngFitFor(meta.input.fit, meta.classes, opts.fit);
  for (const f of files) if (!existsSync(f)) throw new UsageError(`predict: ${f}: no such file`);
  for (const f of files) {
    const pixels = toMnistInput(readPng(f), { fit });
    let x: Tensor = tensor(pixels, { shape: [1, ...shape] });
    if (meta.input.normalize) x = x.sub(meta.input.normalize.mean).div(meta.input.normalize.std);
    const probs = noGrad(() => softmax(model.forward(x) as Tensor, 1)).toTypedArray();
    let best = 0;
    for (let i = 1; i < probs.length; i++) if (probs[i]! > probs[best]!) best = i;
    const probabilities = Object.fromEntries(meta.classes.map((c, i) => [c, Number(probs[i]!.toFixed(6))]));
    if (opts.json) process.stdout.write(JSON.stringify({ file: f, class: meta.classes[best], index: best, probability: probs[best], probabilities, fit }) + '\n');
    else console.log(`${f}: ${meta.classes[best]} (${(probs[best]! * 100).toFixed(1)}%)`);
  }
}
