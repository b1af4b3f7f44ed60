// Model directories: what `nabla train` writes and `eval`, `predict` and `serve` load, without
// the code that built the model.
//   model.json         architecture (buildModule description), input spec, classes, metrics
//   model.safetensors  weights, PyTorch state-dict names
//   manifest.json      SHA-256 of the two files above; written last, so it is the commit marker
// Loading verifies the manifest, checks the weight header against the architecture's shapes
// before anything is allocated, rebuilds the module from the fixed layer registry (no code is
// ever evaluated), checks every tensor against it (strict) and refuses non-finite weights unless
// told otherwise. Each file is opened once, without following links or blocking on a FIFO, and
// must be a regular file; it is hashed and read through that one descriptor.

import { closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { NablaError } from '../errors.js';
import { buildModule, describe, type LayerConfig, type Module } from '../nn/index.js';
import { Tensor, tensor } from '../tensor.js';
import { expectedStateShapes } from './arch-shapes.js';
import { removeOrphanTemps, sha256, sha256Fd, writeFileAtomic } from './atomic.js';
import { loadQuantizedDir, type QuantizedMeta } from '../compress/quant-dir.js';
import { isChainArchitecture, loadQuantizedTreeDir, treeQuantStateShapes, type TreeQuantMeta } from '../compress/quant-tree-dir.js';
import { assertFinite, readSafetensorsHeader, serializeSafetensors, validateAgainst, type RawTensor, type TensorSpec, type WriteOptions } from './safetensors.js';

export const MODEL_FORMAT = 'nabla.model';
export const MODEL_FORMAT_VERSION = 1;

export class ModelDirError extends NablaError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

export interface InputSpec {
  /** Shape of one sample, e.g. [1, 28, 28] or [784]. */
  shape: number[];
  /** Pixels are scaled to [0,1] then (x − mean) / std. */
  normalize?: { mean: number; std: number };
  /** Per-feature standardisation of tabular inputs. */
  standardize?: { mean: number[]; std: number[] };
  kind: 'image' | 'tabular' | 'text';
  /** Text models: the longest token sequence the model takes (longer texts are truncated). */
  maxLength?: number;
  /** Text models: 'classification' (a label per text) or 'language-model' (next-token logits). */
  task?: 'classification' | 'language-model';
  /** How `predict` and the server's PNG endpoint place a picture of another size in the input:
   *  'digit' (MNIST's centring: the ink's box scaled to 20 px, centred by mass in 28×28), 'pad'
   *  (to a square, then resized) or 'stretch'. Absent: 'digit' for a 0–9 classifier, else 'pad'. */
  fit?: InputFit;
}

export type InputFit = 'digit' | 'pad' | 'stretch';
export const INPUT_FITS: readonly InputFit[] = ['digit', 'pad', 'stretch'];

export interface ModelMeta {
  format: string;
  formatVersion: number;
  architecture: LayerConfig;
  input: InputSpec;
  /** 'logits' (argmax / softmax) or 'probability' (one sigmoid output). */
  output: 'logits' | 'probability';
  classes: string[];
  /** Free-form provenance: dataset, reference model, hyper-parameters, test metrics. */
  training?: Record<string, unknown>;
}

export interface LoadedModel {
  model: Module;
  meta: ModelMeta;
  /** Further files the manifest lists (a text model's tokenizer.json), verified against it, by name. */
  files?: Map<string, Buffer>;
}

/** Further files a model directory may hold beside the weights: plain names, hashed in the manifest. */
const EXTRA_FILE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export interface SaveModelOptions extends WriteOptions {
  /** Further files (e.g. tokenizer.json) written before the manifest and verified by it like the weights. */
  files?: Record<string, string>;
}

function rawOf(t: Tensor): RawTensor {
  return { dtype: t.dtype, shape: [...t.shape], data: t.toTypedArray() };
}

/** Write a model directory; the manifest goes last, so a crash never leaves a loadable half. */
export function saveModelDir(dir: string, model: Module, meta: Omit<ModelMeta, 'format' | 'formatVersion' | 'architecture'>, opts: SaveModelOptions = {}): string {
  const extra = Object.entries(opts.files ?? {});
  for (const [name] of extra) {
    if (!EXTRA_FILE_RE.test(name) || name === 'model.json' || name === 'model.safetensors' || name === 'manifest.json') {
      throw new ModelDirError('E_MODEL_BAD_META', `saveModelDir: cannot add a file named ${JSON.stringify(name)}; expected a plain file name other than the model's own files`);
    }
  }
  mkdirSync(dir, { recursive: true });
  removeOrphanTemps(dir);
  const full: ModelMeta = { format: MODEL_FORMAT, formatVersion: MODEL_FORMAT_VERSION, architecture: describe(model), ...meta };
  const tensors = new Map<string, RawTensor>();
  for (const [name, t] of model.stateDict()) tensors.set(name, rawOf(t));
  assertFinite(tensors);
  const weights = serializeSafetensors(tensors, { format: 'pt', producer: 'nabla' }, opts);
  writeModelFiles(dir, weights, full, opts.files ?? {});
  return dir;
}

/**
 * Writes a model directory's files, each to a temp name and renamed: the weights, model.json, the
 * extra files, and the manifest of their SHA-256 last (the commit marker). `dir` exists.
 */
export function writeModelFiles(dir: string, weights: Uint8Array, meta: object, extra: Readonly<Record<string, string>>): void {
  const json = JSON.stringify(meta, null, 2) + '\n';
  writeFileAtomic(join(dir, 'model.safetensors'), weights);
  writeFileAtomic(join(dir, 'model.json'), json);
  const hashes: Record<string, string> = { 'model.safetensors': sha256(weights), 'model.json': sha256(json) };
  for (const [name, text] of Object.entries(extra)) {
    writeFileAtomic(join(dir, name), text);
    hashes[name] = sha256(Buffer.from(text, 'utf8'));
  }
  const manifest = { format: MODEL_FORMAT, files: hashes };
  writeFileAtomic(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Open a model file for reading: a symbolic link is not followed (O_NOFOLLOW), a FIFO does not
 * block the open (O_NONBLOCK), and what was opened must be a regular file (fstat on the open
 * descriptor, so nothing can be swapped in between the check and the read).
 */
function openRegular(path: string, what: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelDirError('E_MODEL_MISSING_FILE', `${what} ${path} is missing`);
    if (code === 'ELOOP') throw new ModelDirError('E_MODEL_NOT_A_FILE', `${what} ${path} is a symbolic link; expected a regular file (links in a model directory are not followed)`);
    throw new ModelDirError('E_MODEL_MISSING_FILE', `${what} ${path} cannot be opened: ${(e as Error).message}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new ModelDirError('E_MODEL_NOT_A_FILE', `${what} ${path} is ${kindOf(st)}; expected a regular file`);
  }
  return fd;
}

function readJson(path: string, what: string, fd?: number): unknown {
  let text: string;
  const own = fd === undefined;
  const f = fd ?? openRegular(path, what);
  try {
    text = readFileSync(f, 'utf8');
  } catch (e) {
    throw new ModelDirError('E_MODEL_MISSING_FILE', `${what} ${path} cannot be read: ${(e as Error).message}`);
  } finally {
    if (own) closeSync(f);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelDirError('E_MODEL_BAD_JSON', `${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function checkMeta(meta: unknown, path: string): ModelMeta {
  if (!isObj(meta)) throw new ModelDirError('E_MODEL_BAD_META', `${path}: expected a JSON object`);
  if (meta.format !== MODEL_FORMAT) throw new ModelDirError('E_MODEL_BAD_META', `${path}: format is ${JSON.stringify(meta.format)}, expected "${MODEL_FORMAT}"`);
  if (meta.formatVersion !== MODEL_FORMAT_VERSION) {
    throw new ModelDirError('E_MODEL_VERSION', `${path}: formatVersion ${JSON.stringify(meta.formatVersion)} is not supported (this Nabla reads ${MODEL_FORMAT_VERSION})`);
  }
  if (!isObj(meta.architecture)) throw new ModelDirError('E_MODEL_BAD_META', `${path}: field 'architecture' must be an object`);
  const input = meta.input;
  if (!isObj(input) || !Array.isArray(input.shape) || !input.shape.every((d) => Number.isSafeInteger(d) && (d as number) > 0)) {
    throw new ModelDirError('E_MODEL_BAD_META', `${path}: field 'input.shape' must be an array of positive integers`);
  }
  if (input.kind !== 'image' && input.kind !== 'tabular' && input.kind !== 'text') throw new ModelDirError('E_MODEL_BAD_META', `${path}: field 'input.kind' must be "image", "tabular" or "text"`);
  if (input.fit !== undefined && !(INPUT_FITS as readonly unknown[]).includes(input.fit)) {
    throw new ModelDirError('E_MODEL_BAD_META', `${path}: field 'input.fit' is ${JSON.stringify(input.fit)}; expected one of ${INPUT_FITS.map((f) => `"${f}"`).join(', ')}`);
  }
  if (meta.output !== 'logits' && meta.output !== 'probability') throw new ModelDirError('E_MODEL_BAD_META', `${path}: field 'output' must be "logits" or "probability"`);
  if (!Array.isArray(meta.classes) || !meta.classes.every((c) => typeof c === 'string')) {
    throw new ModelDirError('E_MODEL_BAD_META', `${path}: field 'classes' must be an array of strings`);
  }
  return meta as unknown as ModelMeta;
}

/**
 * What an int8 directory's weight file must hold, from model.json's numbers alone: the float
 * architecture's tensors, with each quantised layer's weight as int8 (read as int32), its
 * per-channel scales, a float32 bias, and for static quantisation the input's scale and zero
 * point. Undefined when unsure (a malformed "quantization" is reported by the loader itself).
 */
function quantizedStateShapes(architecture: unknown, quantization: unknown): Map<string, TensorSpec> | undefined {
  const float = expectedStateShapes(architecture);
  if (!float || !isObj(quantization) || !Array.isArray(quantization.layers)) return undefined;
  if (!isChainArchitecture(architecture)) return treeQuantStateShapes(float, quantization);
  const { mode } = quantization;
  if (mode !== 'static' && mode !== 'dynamic') return undefined;
  const out = new Map(float);
  for (const l of quantization.layers as unknown[]) {
    const prefix = isObj(l) ? l.prefix : undefined;
    const w = typeof prefix === 'string' && prefix !== '' ? float.get(`${prefix}.weight`) : undefined;
    if (!w || !isObj(l) || (l.type !== 'Linear' && l.type !== 'Conv2d')) return undefined;
    const channels = [w.shape[0]!];
    out.set(`${prefix}.weight`, { shape: w.shape, dtype: 'int32' });
    out.set(`${prefix}.weight_scale`, { shape: channels, dtype: 'float32' });
    if (float.has(`${prefix}.bias`)) out.set(`${prefix}.bias`, { shape: channels, dtype: 'float32' });
    if (mode === 'static') {
      out.set(`${prefix}.input_scale`, { shape: [1], dtype: 'float32' });
      out.set(`${prefix}.input_zero_point`, { shape: [1], dtype: 'int32' });
    }
  }
  return out;
}

export interface LoadModelOptions {
  /** Load weights holding NaN or ±Inf (refused by default with E_ST_NON_FINITE: such a model
   *  answers NaN, and eval, predict and serve all follow this one rule). */
  allowNonFinite?: boolean;
}

/** Load and verify a model directory. */
export function loadModelDir(dir: string, opts: LoadModelOptions = {}): LoadedModel {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelDirError('E_MODEL_NOT_FOUND', `model directory ${dir} does not exist (expected a directory written by \`nabla train\`)`);
  }
  const manifestPath = join(dir, 'manifest.json');
  const manifest = readJson(manifestPath, 'manifest');
  if (!isObj(manifest) || !isObj(manifest.files)) throw new ModelDirError('E_MODEL_BAD_MANIFEST', `${manifestPath}: expected {"files": {name: sha256}}`);
  const files = manifest.files;
  const fds: number[] = [];
  try {
    const [jsonFd, weightsFd] = (['model.json', 'model.safetensors'] as const).map((name) => {
      const want = files[name];
      if (typeof want !== 'string') throw new ModelDirError('E_MODEL_BAD_MANIFEST', `${manifestPath}: no SHA-256 for ${name}`);
      const path = join(dir, name);
      const fd = openRegular(path, name === 'model.json' ? 'model description' : 'weights');
      fds.push(fd);
      const got = sha256Fd(fd);
      if (got !== want) throw new ModelDirError('E_MODEL_INTEGRITY', `${path}: SHA-256 ${got} does not match the manifest (${want}); the file is corrupt or was modified`);
      return fd;
    }) as [number, number];
    const jsonPath = join(dir, 'model.json');
    const meta = checkMeta(readJson(jsonPath, 'model description', jsonFd), jsonPath);
    // The file's shapes against the architecture's, before any layer is built: a description
    // asking for a huge layer is refused here, not after allocating it.
    const header = readSafetensorsHeader(weightsFd);
    const quantization = (meta as { quantization?: unknown }).quantization;
    const implied = quantization === undefined ? expectedStateShapes(meta.architecture) : quantizedStateShapes(meta.architecture, quantization);
    if (implied) validateAgainst(header.tensors, implied, { strict: true });
    // an int8 model (nabla compress): its graph and scales are checked in src/compress/quant-dir.ts
    if (quantization !== undefined) {
      const files = readExtraFiles(dir, manifest.files, manifestPath);
      if (!isChainArchitecture(meta.architecture)) return loadQuantizedTreeDir(dir, meta as TreeQuantMeta, header, files, opts);
      return { ...loadQuantizedDir(dir, meta as QuantizedMeta, header), files };
    }
    const model = buildModule(meta.architecture);
    const expected = new Map<string, { shape: number[]; dtype: Tensor['dtype'] }>();
    for (const [name, t] of model.stateDict()) expected.set(name, { shape: [...t.shape], dtype: t.dtype });
    validateAgainst(header.tensors, expected, { strict: true });
    const { tensors } = header.read();
    if (!opts.allowNonFinite) assertFinite(tensors);
    const sd = new Map<string, Tensor>();
    for (const [name, r] of tensors) sd.set(name, tensor(r.data, { shape: r.shape, dtype: r.dtype }));
    model.loadStateDict(sd);
    model.eval();
    return { model, meta, files: readExtraFiles(dir, files, manifestPath) };
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/** The manifest's other files, each opened once, hashed and read through that descriptor. */
function readExtraFiles(dir: string, files: Record<string, unknown>, manifestPath: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [name, want] of Object.entries(files)) {
    if (name === 'model.json' || name === 'model.safetensors') continue;
    if (!EXTRA_FILE_RE.test(name) || typeof want !== 'string') throw new ModelDirError('E_MODEL_BAD_MANIFEST', `${manifestPath}: bad entry ${JSON.stringify(name)}; expected a plain file name and its SHA-256`);
    const path = join(dir, name);
    const fd = openRegular(path, name);
    try {
      const bytes = readFileSync(fd);
      const got = sha256(bytes);
      if (got !== want) throw new ModelDirError('E_MODEL_INTEGRITY', `${path}: SHA-256 ${got} does not match the manifest (${want}); the file is corrupt or was modified`);
      out.set(name, bytes);
    } finally {
      closeSync(fd);
    }
  }
  return out;
}
