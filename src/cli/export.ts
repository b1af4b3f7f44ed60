// `nabla export <model-dir> --format onnx --out model.onnx`: a model directory as an ONNX file
// (opset 17 by default, dynamic batch). Written to a temp name and renamed, so an error leaves nothing.

import { existsSync, statSync } from 'node:fs';
import '../index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { loadModelDir } from '../io/model-dir.js';
import { exportOnnx } from '../io/onnx/index.js';
import { UsageError } from './errors.js';

export interface ExportArgs {
  format: 'onnx';
  out: string;
  opset?: number;
  json?: boolean;
}

export function runExport(dir: string, a: ExportArgs): void {
  if (existsSync(a.out) && statSync(a.out).isDirectory()) throw new UsageError(`--out ${a.out} is a directory; expected a file name such as model.onnx`);
  const { model, meta } = loadModelDir(dir);
  const bytes = exportOnnx(model, { input: meta.input, output: meta.output, classes: meta.classes }, { opset: a.opset, producerVersion: 'nabla' });
  writeFileAtomic(a.out, bytes);
  const summary = { out: a.out, format: a.format, opset: a.opset ?? 17, bytes: bytes.length };
  if (a.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else console.log(`exported ${dir} to ${a.out} (ONNX opset ${summary.opset}, ${bytes.length} bytes)`);
}
