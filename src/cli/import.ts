// `nabla import model.onnx --out DIR`: an ONNX file as a model directory that eval/predict/serve
// load. A layer chain (Nabla's export or torch.onnx.export's, for the op subset of
// src/io/onnx/import.ts) becomes a Sequential; a text-model graph written by `nabla export`
// (text-transformer, gpt) becomes that model again, with the tokenizer it carries. Everything is
// decoded and checked before anything is written.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import '../index.js';
import { saveModelDir } from '../io/model-dir.js';
import { importOnnx, importTextOnnx, textArchitectureOf } from '../io/onnx/index.js';
import { decodeOrFail } from '../io/onnx/import.js';
import { describe } from '../nn/index.js';
import { TOKENIZER_FILE } from '../text/tokenizer.js';
import { UsageError } from './errors.js';

export interface ImportArgs {
  out: string;
  classes?: string;
  json?: boolean;
}

function checkClasses(a: ImportArgs, have: string[]): string[] {
  if (a.classes === undefined) return have;
  const classes = a.classes.split(',').map((c) => c.trim());
  if (classes.length !== have.length || classes.some((c) => c === '')) {
    throw new UsageError(`--classes has ${classes.length} names; the model outputs ${have.length} values (expected that many non-empty, comma-separated names)`);
  }
  return classes;
}

export function runImport(file: string, a: ImportArgs): void {
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file}: no such file (expected an .onnx model)`);
  if (existsSync(join(a.out, 'manifest.json'))) throw new UsageError(`--out ${a.out} already holds a model directory; choose another --out`);
  const bytes = new Uint8Array(readFileSync(file));
  if (textArchitectureOf(decodeOrFail(bytes))) {
    const imp = importTextOnnx(bytes);
    if (imp.tokenizer === undefined) throw new UsageError(`${file} holds a ${describe(imp.model).type} graph without the tokenizer (nabla.tokenizer metadata) that a text model directory needs; export it with \`nabla export\` from a model directory`);
    const classes = imp.input.task === 'language-model' ? imp.classes : checkClasses(a, imp.classes);
    saveModelDir(a.out, imp.model, { input: imp.input, output: imp.output, classes, training: { importedFrom: file, producer: imp.producer, opset: imp.opset } }, { files: { [TOKENIZER_FILE]: imp.tokenizer } });
    const type = describe(imp.model).type;
    if (a.json) process.stdout.write(JSON.stringify({ out: a.out, opset: imp.opset, producer: imp.producer, model: type }) + '\n');
    else console.log(`imported ${file} (${imp.producer || 'unknown producer'}, opset ${imp.opset}) to ${a.out}: ${type} with its tokenizer`);
    return;
  }
  const imp = importOnnx(bytes);
  const classes = checkClasses(a, imp.classes);
  saveModelDir(a.out, imp.model, { input: imp.input, output: imp.output, classes, training: { importedFrom: file, producer: imp.producer, opset: imp.opset } });
  const layers = [...imp.model].map((m) => describe(m).type);
  if (a.json) process.stdout.write(JSON.stringify({ out: a.out, opset: imp.opset, producer: imp.producer, layers }) + '\n');
  else console.log(`imported ${file} (${imp.producer || 'unknown producer'}, opset ${imp.opset}) to ${a.out}: ${layers.join(' → ')}`);
}
