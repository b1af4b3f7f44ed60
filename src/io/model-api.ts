// The public save/load API: a model trained in code becomes the same model directory `nabla train`
// writes (so `nabla serve`, `eval` and `predict` take it), and a directory from the CLI loads back
// into a Module with the CLI's strict checks (manifest hashes, fixed layer registry, strict
// tensors). Plus the safetensors reader/writer on Tensors, for users who exchange weights with
// PyTorch. This wraps src/io/model-dir.ts and src/io/safetensors.ts; it adds argument checks and a
// probe forward pass, so a wrong inputShape or class list fails here instead of in the server.

import { noGrad } from '../autograd.js';
import { ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { Tensor, full, tensor, zeros } from '../tensor.js';
import { tokenizerFromBytes, TOKENIZER_FILE, type Tokenizer } from '../text/tokenizer.js';
import { join } from 'node:path';
import { loadModelDir, saveModelDir, type InputSpec, type LoadedModel, type ModelMeta } from './model-dir.js';
import { parseSafetensors, readSafetensorsFile, serializeSafetensors, type ParseOptions, type RawTensor } from './safetensors.js';
import { writeFileAtomic } from './atomic.js';

export interface SaveModelOptions {
  /** Shape of one sample, without the batch dimension: [784], [1, 28, 28], [4]. */
  inputShape: number[];
  /** Image inputs: pixels are scaled to [0, 1], then (x − mean) / std (what the server applies). */
  normalize?: { mean: number; std: number };
  /** Tabular inputs: per-feature (x − mean[i]) / std[i]. */
  standardize?: { mean: number[]; std: number[] };
  /** Class names, one per output of a classifier. Default '0', '1', ... from the output width. */
  classes?: string[];
  /** 'logits' (default: argmax/softmax over C outputs) or 'probability' (one sigmoid output). */
  output?: 'logits' | 'probability';
  /** Default 'text' when `tokenizer` is given, 'image' when `normalize` is given or the sample is
   *  [C, H, W], else 'tabular'. */
  kind?: 'image' | 'tabular' | 'text';
  /**
   * Text models: the tokenizer, saved as tokenizer.json beside the weights and verified by the
   * manifest like them. The input is then token ids [maxLength] (inputShape = [maxLength]); the
   * model may be a classifier ([N, classes] out) or a language model ([N, L, vocabSize] out).
   */
  tokenizer?: Tokenizer;
  /** Free-form provenance kept in model.json (dataset, hyper-parameters, metrics). */
  training?: Record<string, unknown>;
}

export interface LoadModelOptions {
  /** Load weights holding NaN or ±Inf, which are refused by default (E_ST_NON_FINITE), as in
   *  eval, predict and serve. */
  allowNonFinite?: boolean;
}

function checkStats(name: string, v: unknown, len?: number): void {
  if (len === undefined) {
    const o = v as { mean?: unknown; std?: unknown };
    if (typeof o !== 'object' || o === null || !Number.isFinite(o.mean) || !Number.isFinite(o.std) || (o.std as number) <= 0) {
      throw new ValueError(`saveModel: ${name} must be {mean: number, std: number > 0}, got ${JSON.stringify(v)}`);
    }
    return;
  }
  const o = v as { mean?: unknown; std?: unknown };
  const ok = (a: unknown, pos: boolean) => Array.isArray(a) && a.length === len && a.every((x) => Number.isFinite(x) && (!pos || x > 0));
  if (typeof o !== 'object' || o === null || !ok(o.mean, false) || !ok(o.std, true)) {
    throw new ValueError(`saveModel: ${name} must be {mean: number[${len}], std: number[${len}] (all > 0)}, got ${JSON.stringify(v)}`);
  }
}

/**
 * Save `model` as a model directory (model.safetensors + model.json + manifest.json, written
 * atomically, manifest last). The model is run once on zeros of `inputShape` to check that it
 * accepts that input and to count its outputs. Returns `dir`.
 */
export function saveModel(model: Module, dir: string, opts: SaveModelOptions): string {
  if (typeof dir !== 'string' || dir === '') throw new ValueError('saveModel: dir must be a non-empty path');
  if (opts === null || typeof opts !== 'object') throw new ValueError('saveModel: options {inputShape, ...} are required');
  const shape = opts.inputShape;
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new ValueError(`saveModel: inputShape must be a non-empty array of positive integers (one sample, no batch dimension), got ${JSON.stringify(shape)}`);
  }
  const features = shape.reduce((a, b) => a * b, 1);
  if (opts.normalize !== undefined) checkStats('normalize', opts.normalize);
  if (opts.standardize !== undefined) checkStats('standardize', opts.standardize, features);
  if (opts.normalize && opts.standardize) throw new ValueError('saveModel: give normalize (images) or standardize (tabular), not both');
  const output = opts.output ?? 'logits';
  if (output !== 'logits' && output !== 'probability') throw new ValueError(`saveModel: output must be 'logits' or 'probability', got ${JSON.stringify(output)}`);
  const tok = opts.tokenizer;
  const kind = opts.kind ?? (tok ? 'text' : opts.normalize || shape.length === 3 ? 'image' : 'tabular');
  if (kind !== 'image' && kind !== 'tabular' && kind !== 'text') throw new ValueError(`saveModel: kind must be 'image', 'tabular' or 'text', got ${JSON.stringify(kind)}`);
  if (kind === 'text') return saveTextModel(model, dir, opts, shape);
  if (tok) throw new ValueError(`saveModel: a tokenizer goes with kind 'text', not ${JSON.stringify(kind)}`);

  // Probe: the server will feed [N, ...inputShape]; find out now whether that works and how wide the output is.
  const wasTraining = model.training;
  let out: unknown;
  try {
    model.eval();
    out = noGrad(() => model.forward(zeros([1, ...shape])));
  } catch (e) {
    throw new ValueError(`saveModel: the model does not accept input of shape [N, ${shape.join(', ')}] (inputShape ${JSON.stringify(shape)}): ${(e as Error).message}`);
  } finally {
    model.train(wasTraining);
  }
  if (!(out instanceof Tensor) || out.ndim !== 2) {
    throw new ValueError(`saveModel: the model's output must be one tensor [N, outputs]; got ${out instanceof Tensor ? `shape [${out.shape.join(', ')}]` : typeof out}`);
  }
  const width = out.shape[1]!;
  if (output === 'probability' && width !== 1) throw new ValueError(`saveModel: output 'probability' needs one output (a sigmoid unit), the model has ${width}`);
  const classes = opts.classes ?? (output === 'probability' ? ['0', '1'] : Array.from({ length: width }, (_, i) => String(i)));
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string')) throw new ValueError('saveModel: classes must be an array of strings');
  const wantClasses = output === 'probability' ? 2 : width;
  if (classes.length !== wantClasses) {
    throw new ValueError(`saveModel: ${classes.length} class names for a model with ${width} output(s); expected ${wantClasses}`);
  }
  const input: InputSpec = { shape: [...shape], kind };
  if (opts.normalize) input.normalize = { mean: opts.normalize.mean, std: opts.normalize.std };
  if (opts.standardize) input.standardize = { mean: [...opts.standardize.mean], std: [...opts.standardize.std] };
  return saveModelDir(dir, model, { input, output, classes: [...classes], training: opts.training });
}

/**
 * Load a model directory written by saveModel() or `nabla train`: manifest hashes verified, the
 * network rebuilt from the fixed layer registry (no code from the file runs), every tensor checked
 * against it. Returns the model in eval mode with its description (input spec, classes, output).
 * Errors: ModelDirError (E_MODEL_*), SafetensorsError (E_ST_*), UnknownLayerError, ValueError.
 */
export function loadModel(dir: string, opts: LoadModelOptions = {}): LoadedModel & { tokenizer?: Tokenizer } {
  if (typeof dir !== 'string' || dir === '') throw new ValueError('loadModel: dir must be a non-empty path');
  const loaded = loadModelDir(dir, { allowNonFinite: opts.allowNonFinite });
  // tokenizer.json was hashed against the manifest with the weights (model-dir's verified files).
  const bytes = loaded.files?.get(TOKENIZER_FILE);
  if (!bytes) {
    if (loaded.meta.input.kind === 'text') throw new ValueError(`loadModel: ${dir} holds a text model without ${TOKENIZER_FILE} in its manifest; expected the tokenizer saved with it`);
    return loaded;
  }
  return { ...loaded, tokenizer: tokenizerFromBytes(bytes, join(dir, TOKENIZER_FILE)) };
}

/** saveModel for kind 'text': token-id input [maxLength], tokenizer.json under the manifest. */
function saveTextModel(model: Module, dir: string, opts: SaveModelOptions, shape: number[]): string {
  const tok = opts.tokenizer;
  if (!tok || typeof tok.encode !== 'function' || typeof tok.toJSON !== 'function') throw new ValueError("saveModel: kind 'text' needs the tokenizer (opts.tokenizer)");
  if (shape.length !== 1) throw new ValueError(`saveModel: a text model's inputShape is [maxLength] (token ids), got ${JSON.stringify(shape)}`);
  if (opts.normalize || opts.standardize) throw new ValueError('saveModel: normalize/standardize are for image and tabular inputs, not text');
  const maxLength = shape[0];
  // Probe with a real (non-pad) token so a classifier's masked pooling has something to pool.
  const probeId = tok.padId === 0 ? Math.min(1, tok.vocabSize - 1) : 0;
  const wasTraining = model.training;
  let out: unknown;
  try {
    model.eval();
    out = noGrad(() => model.forward(full([1, maxLength], probeId, { dtype: 'int32' })));
  } catch (e) {
    throw new ValueError(`saveModel: the model does not accept token ids of shape [N, ${maxLength}] (inputShape ${JSON.stringify(shape)}): ${(e as Error).message}`);
  } finally {
    model.train(wasTraining);
  }
  if (!(out instanceof Tensor) || (out.ndim !== 2 && out.ndim !== 3)) {
    throw new ValueError(`saveModel: a text model's output must be [N, classes] or [N, L, vocabSize]; got ${out instanceof Tensor ? `shape [${out.shape.join(', ')}]` : typeof out}`);
  }
  let classes: string[];
  let task: 'classification' | 'language-model';
  if (out.ndim === 3) {
    task = 'language-model';
    if (out.shape[2] !== tok.vocabSize) throw new ValueError(`saveModel: the language model predicts ${out.shape[2]} ids per position but the tokenizer has ${tok.vocabSize}; expected the same`);
    if (opts.classes && opts.classes.length > 0) throw new ValueError('saveModel: a language model has no classes');
    classes = [];
  } else {
    task = 'classification';
    const width = out.shape[1]!;
    classes = opts.classes ?? Array.from({ length: width }, (_, i) => String(i));
    if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string') || classes.length !== width) {
      throw new ValueError(`saveModel: classes must be ${width} strings, one per output; got ${JSON.stringify(opts.classes)}`);
    }
  }
  if ((opts.output ?? 'logits') !== 'logits') throw new ValueError("saveModel: text models output 'logits'");
  return saveModelDir(
    dir,
    model,
    { input: { shape: [maxLength], kind: 'text', maxLength, task }, output: 'logits', classes: [...classes], training: opts.training },
    { files: { [TOKENIZER_FILE]: JSON.stringify(tok.toJSON()) } },
  );
}

export type TensorMap = Map<string, Tensor>;

/** Read a safetensors file (a path) or image (bytes) into Tensors, fully validated (E_ST_* codes). */
export function readSafetensors(source: string | Uint8Array, opts?: ParseOptions): { tensors: TensorMap; metadata: Record<string, string> } {
  const parsed = typeof source === 'string' ? readSafetensorsFile(source, opts) : parseSafetensors(source, opts);
  const tensors: TensorMap = new Map();
  for (const [name, r] of parsed.tensors) tensors.set(name, tensor(r.data, { shape: r.shape, dtype: r.dtype }));
  return { tensors, metadata: parsed.metadata };
}

function toRaw(tensors: Map<string, Tensor> | Record<string, Tensor>): Map<string, RawTensor> {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const out = new Map<string, RawTensor>();
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor)) throw new ValueError(`writeSafetensors: ${JSON.stringify(name)} is not a Tensor`);
    out.set(name, { dtype: t.dtype, shape: [...t.shape], data: t.toTypedArray() });
  }
  return out;
}

/**
 * Write Tensors (e.g. `model.stateDict()`) as a safetensors file, atomically (temp + fsync +
 * rename), byte-identical to the reference implementation's output.
 */
export function writeSafetensors(path: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>): void {
  if (typeof path !== 'string' || path === '') throw new ValueError('writeSafetensors: path must be a non-empty string');
  writeFileAtomic(path, serializeSafetensors(toRaw(tensors), metadata));
}

/** The safetensors bytes of Tensors, without touching the disk. */
export function safetensorsBytes(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  return serializeSafetensors(toRaw(tensors), metadata);
}

export type { LoadedModel, ModelMeta, InputSpec };
