// `nabla summary <model-dir>`: each layer's output shape and parameter count (Keras' model.summary()).

import '../index.js';
import { loadModel } from '../io/model-api.js';
import { formatSummary, summary } from '../nn/summary.js';

export function runSummary(dir: string, a: { json?: boolean; batchSize?: number }): void {
  const { model, meta } = loadModel(dir);
  const s = summary(model, meta.input.shape, { batchSize: a.batchSize });
  if (a.json) {
    process.stdout.write(JSON.stringify({ ...s, classes: meta.classes, output: meta.output }) + '\n');
    return;
  }
  process.stdout.write(`${dir}: ${meta.classes.length} classes (${meta.output}), input ${meta.input.kind} [${meta.input.shape.join(', ')}]\n`);
  process.stdout.write(formatSummary(s) + '\n');
}
