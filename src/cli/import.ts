// `nabla import model.onnx --out DIR`: an ONNX file (Nabla's own or torch.onnx.export's, for the op
// subset of src/io/onnx/import.ts) as a model directory that eval/predict/serve load. Everything is
// decoded and checked before anything is written.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import '../index.js';
import { saveModelDir } from '../io/model-dir.js';
import { importOnnx } from '../io/onnx/index.js';
import { describe } from '../nn/index.js';
import { UsageError } from './errors.js';

export interface ImportArgs {
  out: string;
  classes?: string;
  json?: boolean;
}

export function runImport(file: string, a: ImportArgs): void {
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file}: no such file (expected an .onnx model)`);
  if (existsSync(join(a.out, 'manifest.json'))) throw new UsageError(`--out ${a.out} already holds a model directory; choose another --out`);
  const imp = importOnnx(new Uint8Array(readFileSync(file)));
  let classes = imp.classes;
  if (a.classes !== undefined) {
    classes = a.classes.split(',').map((c) => c.trim());
    if (classes.length !== imp.classes.length || classes.some((c) => c === '')) {
      throw new UsageError(`--classes has ${classes.length} names; the model outputs ${imp.classes.length} values (expected that many non-empty, comma-separated names)`);
    }
  }
  saveModelDir(a.out, imp.model, { input: imp.input, output: imp.output, classes, training: { importedFrom: file, producer: imp.producer, opset: imp.opset } });
  const layers = [...imp.model].map((m) => describe(m).type);
  if (a.json) process.stdout.write(JSON.stringify({ out: a.out, opset: imp.opset, producer: imp.producer, layers }) + '\n');
  else console.log(`imported ${file} (${imp.producer || 'unknown producer'}, opset ${imp.opset}) to ${a.out}: ${layers.join(' → ')}`);
}
