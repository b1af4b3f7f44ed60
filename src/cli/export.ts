// `nabla export <model-dir> --format onnx --out model.onnx`: a model directory as an ONNX file
// (opset 17 by default, 17 to 21). Layer-chain models (MLP, CNN: Linear, Conv2d, pools, norms,
// activations) take a float input with a dynamic batch; the text models (text-transformer, gpt)
// are whole graphs taking token ids [batch, sequence] (int64, or int32 with --ids-dtype), with
// their tokenizer.json carried in the file's metadata. Written to a temp name and renamed, so an
// error leaves nothing.

import { libraryVersion } from '../train/checkpoint.js';
import { existsSync, statSync } from 'node:fs';
import '../index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { loadModelDir } from '../io/model-dir.js';
import { DEFAULT_OPSET, exportOnnx } from '../io/onnx/index.js';
import { TOKENIZER_FILE } from '../text/tokenizer.js';
import { UsageError } from './errors.js';

export interface ExportArgs {
  format: 'onnx';
  out: string;
  opset?: number;
  idsDtype?: 'int64' | 'int32';
  json?: boolean;
}

export function runExport(dir: string, a: ExportArgs): void {
  if (existsSync(a.out) && statSync(a.out).isDirectory()) throw new UsageError(`--out ${a.out} is a directory; expected a file name such as model.onnx`);
  const { model, meta, files } = loadModelDir(dir);
  const text = meta.input.kind === 'text';
  if (a.idsDtype !== undefined && !text) throw new UsageError(`--ids-dtype applies to text models; ${dir} holds a ${meta.input.kind} model`);
  const tokenizer = text ? files?.get(TOKENIZER_FILE)?.toString('utf8') : undefined;
  const bytes = exportOnnx(model, { input: meta.input, output: meta.output, classes: meta.classes }, { opset: a.opset, producerVersion: libraryVersion(), idsDType: a.idsDtype, tokenizer });
  writeFileAtomic(a.out, bytes);
  const opset = a.opset ?? DEFAULT_OPSET;
  const input = text ? `token ids ${a.idsDtype ?? 'int64'} [batch, sequence]` : `float32 [batch, ${meta.input.shape.join(', ')}]`;
  if (a.json) process.stdout.write(JSON.stringify({ out: a.out, format: a.format, opset, bytes: bytes.length, input }) + '\n');
  else console.log(`exported ${dir} to ${a.out} (ONNX opset ${opset}, input ${input}, ${bytes.length} bytes)`);
}
