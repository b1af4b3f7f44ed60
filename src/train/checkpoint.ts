// Training checkpoints. A checkpoint is ONE safetensors file: model weights as `model.<name>`,
// every tensor found in the other state (optimizer moments, ...) as `<section>.<path>`, and all
// remaining state as JSON strings in `__metadata__`. One file means one atomic
// rename commits it; a SHA-256 over the tensor bytes in the metadata catches a damaged data
// section, which the safetensors layout alone would not.

import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NablaError } from '../errors.js';
import { makeDirectory } from './dirs.js';
import { Tensor } from '../tensor.js';
import { type DType, type TypedArray, dtypeOf } from '../dtype.js';
import { type RawTensor, readSafetensorsFile, serializeSafetensors } from '../io/safetensors.js';
import { type AtomicFsOps, removeOrphanTemps, sha256, writeFileAtomic } from '../io/atomic.js';

export const CHECKPOINT_FORMAT = 'nabla.checkpoint';
export const CHECKPOINT_VERSION = 1;

export type CheckpointErrorCode =
  | 'E_CKPT_NOT_FOUND' // resume directory missing, or holds no checkpoint file
  | 'E_CKPT_NO_VALID' // checkpoint files exist but none loads
  | 'E_CKPT_CORRUPT' // one file that does not load (truncated, bad header, hash mismatch, ...)
  | 'E_CKPT_INCOMPATIBLE' // architecture, optimizer type or config differs from the running setup
  | 'E_CKPT_NON_FINITE' // refused to write parameters holding NaN/Inf
  | 'E_CKPT_EXISTS' // a fresh run pointed at a directory holding another run's checkpoints
  | 'E_CKPT_BAD_STATE'; // state that cannot be encoded (bigint, function, ...)

export class CheckpointError extends NablaError {
  declare readonly code: CheckpointErrorCode;
  /** The checkpoint file or directory the error is about. */
  readonly path: string | undefined;
  constructor(code: CheckpointErrorCode, message: string, path?: string) {
    super(code, message);
    this.path = path;
  }
}

/** Where training stands when the checkpoint is taken. */
export interface CheckpointProgress {
  /** 1-based epoch the state belongs to. */
  epoch: number;
  /** Optimizer steps completed since the start of training. */
  globalStep: number;
  /** Batches of `epoch` already consumed. */
  batchInEpoch: number;
  /** True once the epoch's end (validation, scheduler, callbacks) has been processed too. */
  epochDone: boolean;
}

export type StateDict = Map<string, Tensor> | Record<string, Tensor>;

export interface CheckpointData {
  /** The model's stateDict() (parameters and buffers). */
  model: StateDict;
  /** Constructor name of the optimizer; a different one on resume is an incompatibility. */
  optimizerType: string;
  progress: CheckpointProgress;
  configHash: string;
  /**
   * Everything else, one metadata entry per key, e.g. optimizer, scheduler, rng, loader,
   * callbacks, history. Values are JSON-like; Tensors and typed arrays inside are stored as
   * tensors, and NaN/±Infinity/-0, Maps survive the round trip.
   */
  sections: Record<string, unknown>;
}

export interface LoadedCheckpoint extends CheckpointData {
  model: Map<string, Tensor>;
  path: string;
  libraryVersion: string;
}

// ---------------------------------------------------------------------------------------------
// Encoding state as JSON with tensors pulled out. Markers are objects with one `$`-key; a plain
// object whose own keys start with `$` is wrapped so it cannot be mistaken for a marker.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isTypedArray(x: unknown): x is ArrayBufferView & ArrayLike<number> {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

function toRaw(t: Tensor): RawTensor {
  const contiguousWhole = t.isContiguous() && t.offset === 0 && t.data.length === t.numel();
  return { dtype: t.dtype, shape: [...t.shape], data: contiguousWhole ? t.data : t.toTypedArray() };
}

function encodeValue(v: unknown, path: string, tensors: Map<string, RawTensor>): Json {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { $num: 'NaN' };
    if (v === Infinity) return { $num: 'Infinity' };
    if (v === -Infinity) return { $num: '-Infinity' };
    if (Object.is(v, -0)) return { $num: '-0' };
    return v;
  }
  if (v instanceof Tensor) {
    tensors.set(path, toRaw(v));
    return { $tensor: path };
  }
  if (isTypedArray(v)) {
    let dtype: DType | undefined;
    try {
      dtype = dtypeOf(v as unknown as TypedArray);
    } catch {
      dtype = undefined;
    }
    if (dtype) {
      tensors.set(path, { dtype, shape: [v.length], data: v as unknown as TypedArray });
      return { $typed: path };
    }
    return { $array: v.constructor.name, data: Array.from(v, (x) => Number(x)) };
  }
  if (Array.isArray(v)) return v.map((x, i) => (x === undefined ? null : encodeValue(x, `${path}.${i}`, tensors)));
  if (v instanceof Map) {
    return { $map: [...v.entries()].map(([k, x], i) => [encodeValue(k, `${path}.k${i}`, tensors), encodeValue(x, `${path}.${i}`, tensors)]) };
  }
  if (typeof v === 'object') {
    const out: { [k: string]: Json } = {};
    let dollar = false;
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined || typeof x === 'function') continue;
      if (k.startsWith('$')) dollar = true;
      out[k] = encodeValue(x, `${path}.${k}`, tensors);
    }
    return dollar ? { $obj: out } : out;
  }
  throw new CheckpointError('E_CKPT_BAD_STATE', `cannot store ${typeof v} at ${path} in a checkpoint; expected numbers, strings, arrays, objects, Maps or Tensors`);
}

const SPECIAL: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 };

function decodeValue(v: Json, tensors: Map<string, RawTensor>, where: string): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => decodeValue(x, tensors, where));
  const keys = Object.keys(v);
  if (keys.length >= 1 && keys[0]!.startsWith('$')) {
    const k = keys[0]!;
    const bad = (): never => {
      throw new CheckpointError('E_CKPT_CORRUPT', `${where}: malformed ${k} marker in metadata`);
    };
    const take = (name: Json | undefined): RawTensor => {
      const t = typeof name === 'string' ? tensors.get(name) : undefined;
      if (!t) throw new CheckpointError('E_CKPT_CORRUPT', `${where}: metadata refers to tensor ${JSON.stringify(name)}, which the file does not hold`);
      tensors.delete(name as string);
      return t;
    };
    switch (k) {
      case '$num':
        return typeof v.$num === 'string' && v.$num in SPECIAL ? SPECIAL[v.$num] : bad();
      case '$tensor': {
        const t = take(v.$tensor);
        return new Tensor(t.data, t.shape);
      }
      case '$typed':
        return take(v.$typed).data;
      case '$array': {
        const ctor = ({ Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Uint8ClampedArray } as Record<string, new (a: number[]) => unknown>)[String(v.$array)];
        return ctor && Array.isArray(v.data) ? new ctor(v.data as number[]) : bad();
      }
      case '$map':
        return Array.isArray(v.$map)
          ? new Map(v.$map.map((e) => (Array.isArray(e) && e.length === 2 ? [decodeValue(e[0]!, tensors, where), decodeValue(e[1]!, tensors, where)] : bad())))
          : bad();
      case '$obj':
        return v.$obj !== null && typeof v.$obj === 'object' && !Array.isArray(v.$obj) ? decodePlain(v.$obj, tensors, where) : bad();
      default:
        return bad();
    }
  }
  return decodePlain(v, tensors, where);
}

function decodePlain(v: { [k: string]: Json }, tensors: Map<string, RawTensor>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    // defineProperty keeps a key such as "__proto__" plain data
    Object.defineProperty(out, k, { value: decodeValue(x, tensors, where), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Encodes a JSON-like value; Tensors and typed arrays inside are added to `tensors` under `prefix.<path>`. */
export function encodeState(value: unknown, prefix: string, tensors: Map<string, RawTensor>): string {
  return JSON.stringify(encodeValue(value, prefix, tensors));
}

/** Inverse of encodeState; consumes the tensors it refers to from `tensors`. */
export function decodeState(json: string, tensors: Map<string, RawTensor>, where = 'checkpoint'): unknown {
  let parsed: Json;
  try {
    parsed = JSON.parse(json) as Json;
  } catch (err) {
    throw new CheckpointError('E_CKPT_CORRUPT', `${where}: metadata is not valid JSON (${(err as Error).message})`);
  }
  return decodeValue(parsed, tensors, where);
}

// ---------------------------------------------------------------------------------------------
// One checkpoint file

const entriesOf = (sd: StateDict): [string, Tensor][] => (sd instanceof Map ? [...sd.entries()] : Object.entries(sd));

/** SHA-256 over every tensor's name, dtype, shape and bytes, in name order. */
export function tensorsDigest(tensors: Map<string, RawTensor>): string {
  const h = createHash('sha256');
  for (const name of [...tensors.keys()].sort()) {
    const t = tensors.get(name)!;
    h.update(`${name}\0${t.dtype}\0${t.shape.join(',')}\0`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

/** Throws E_CKPT_NON_FINITE naming the first model tensor holding NaN or ±Inf. */
export function assertFiniteState(model: StateDict, what = 'model'): void {
  for (const [name, t] of entriesOf(model)) {
    if (t.dtype === 'int32') continue;
    const d = toRaw(t).data;
    let count = 0;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) count++;
    if (count > 0) {
      throw new CheckpointError('E_CKPT_NON_FINITE', `refusing to write a checkpoint: ${what} tensor "${name}" [${t.shape.join(',')}] holds ${count} non-finite value(s)`);
    }
  }
}

let cachedVersion: string | undefined;
/** The version in Nabla's package.json, found from this module's location (src/ or dist/src/). */
export function libraryVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  cachedVersion = 'unknown';
  try {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 5; i++, dir = dirname(dir)) {
      const p = join(dir, 'package.json');
      if (!fs.existsSync(p)) continue;
      const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'nabla' && typeof pkg.version === 'string') {
        cachedVersion = pkg.version;
        break;
      }
    }
  } catch {
    // the version is informative only
  }
  return cachedVersion;
}

/** The file image of a checkpoint. Refuses non-finite model tensors. */
export function serializeCheckpoint(data: CheckpointData): Uint8Array {
  assertFiniteState(data.model);
  const tensors = new Map<string, RawTensor>();
  for (const [name, t] of entriesOf(data.model)) tensors.set(`model.${name}`, toRaw(t));
  const { epoch, globalStep, batchInEpoch, epochDone } = data.progress;
  const meta: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    format_version: String(CHECKPOINT_VERSION),
    library_version: libraryVersion(),
    config_hash: data.configHash,
    optimizer_type: data.optimizerType,
    epoch: String(epoch),
    global_step: String(globalStep),
    batch_in_epoch: String(batchInEpoch),
    epoch_done: String(epochDone),
    sections: JSON.stringify(Object.keys(data.sections)),
  };
  for (const [key, value] of Object.entries(data.sections)) {
    if (key in meta || key === 'tensors_sha256') throw new CheckpointError('E_CKPT_BAD_STATE', `section name "${key}" is reserved`);
    if (key.startsWith('model')) throw new CheckpointError('E_CKPT_BAD_STATE', `section name "${key}" would clash with the model tensors`);
    meta[key] = encodeState(value, key, tensors);
  }
  meta.tensors_sha256 = tensorsDigest(tensors);
  return serializeSafetensors(tensors, meta);
}

function intMeta(meta: Record<string, string>, key: string, path: string): number {
  const v = meta[key];
  const n = v === undefined || !/^\d+$/.test(v) ? NaN : Number(v);
  if (!Number.isSafeInteger(n)) throw new CheckpointError('E_CKPT_CORRUPT', `${path}: metadata "${key}" is ${JSON.stringify(v)}; expected a non-negative integer`, path);
  return n;
}

/** Reads and fully verifies one checkpoint file; any defect is a CheckpointError E_CKPT_CORRUPT. */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  let parsed;
  try {
    parsed = readSafetensorsFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const code = e.code === 'ENOENT' ? 'E_CKPT_NOT_FOUND' : 'E_CKPT_CORRUPT';
    throw new CheckpointError(code, `${path}: ${e.message}`, path);
  }
  const { metadata: meta, tensors } = parsed;
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError('E_CKPT_CORRUPT', `${path}: not a Nabla training checkpoint (metadata "format" is ${JSON.stringify(meta.format)}; expected "${CHECKPOINT_FORMAT}")`, path);
  }
  const version = intMeta(meta, 'format_version', path);
  if (version !== CHECKPOINT_VERSION) {
    throw new CheckpointError('E_CKPT_INCOMPATIBLE', `${path}: checkpoint format version ${version}; this Nabla reads version ${CHECKPOINT_VERSION}`, path);
  }
  const digest = tensorsDigest(tensors);
  if (digest !== meta.tensors_sha256) {
    throw new CheckpointError('E_CKPT_CORRUPT', `${path}: tensor data SHA-256 ${digest.slice(0, 16)}… does not match the recorded ${String(meta.tensors_sha256).slice(0, 16)}…; the file is damaged`, path);
  }
  let sectionNames: unknown;
  try {
    sectionNames = JSON.parse(meta.sections ?? 'null');
  } catch {
    sectionNames = null;
  }
  if (!Array.isArray(sectionNames) || !sectionNames.every((s) => typeof s === 'string' && typeof meta[s] === 'string')) {
    throw new CheckpointError('E_CKPT_CORRUPT', `${path}: metadata "sections" is missing or names absent entries`, path);
  }
  const sections: Record<string, unknown> = {};
  for (const s of sectionNames as string[]) sections[s] = decodeState(meta[s]!, tensors, `${path} [${s}]`);
  const model = new Map<string, Tensor>();
  for (const [name, t] of tensors) {
    if (!name.startsWith('model.')) throw new CheckpointError('E_CKPT_CORRUPT', `${path}: tensor "${name}" belongs to no section`, path);
    model.set(name.slice('model.'.length), new Tensor(t.data, t.shape));
  }
  const epochDone = meta.epoch_done;
  if (epochDone !== 'true' && epochDone !== 'false') throw new CheckpointError('E_CKPT_CORRUPT', `${path}: metadata "epoch_done" must be "true" or "false"`, path);
  return {
    path,
    libraryVersion: meta.library_version ?? 'unknown',
    model,
    optimizerType: meta.optimizer_type ?? '',
    configHash: meta.config_hash ?? '',
    progress: {
      epoch: intMeta(meta, 'epoch', path),
      globalStep: intMeta(meta, 'global_step', path),
      batchInEpoch: intMeta(meta, 'batch_in_epoch', path),
      epochDone: epochDone === 'true',
    },
    sections,
  };
}

// ---------------------------------------------------------------------------------------------
// A directory of rotating checkpoints

const CKPT_RE = /^ckpt-(\d+)\.safetensors$/;
export const BEST_CHECKPOINT = 'best.safetensors';

export interface CheckpointManagerOptions {
  /** How many step checkpoints to keep (>= 1). Default 2, so a damaged latest has a fallback. */
  keep?: number;
  /** Receives fallback warnings. Default: process.emitWarning. */
  warn?: (message: string) => void;
  /** Replacement fs calls for the atomic write, for fault-injection tests (ENOSPC, EIO, ...). */
  fsOps?: Partial<AtomicFsOps>;
}

export class CheckpointManager {
  readonly dir: string;
  readonly keep: number;
  private readonly warn: (message: string) => void;
  private readonly fsOps: Partial<AtomicFsOps> | undefined;

  constructor(dir: string, opts: CheckpointManagerOptions = {}) {
    this.dir = resolve(dir);
    this.keep = opts.keep ?? 2;
    if (!Number.isInteger(this.keep) || this.keep < 1) throw new CheckpointError('E_CKPT_BAD_STATE', `CheckpointManager: keep must be an integer >= 1, got ${opts.keep}`);
    this.warn = opts.warn ?? ((m) => process.emitWarning(m, 'NablaCheckpointWarning'));
    this.fsOps = opts.fsOps;
  }

  /** Creates the directory if needed and removes temp files a killed writer left; returns them. */
  prepare(): string[] {
    makeDirectory(this.dir);
    return removeOrphanTemps(this.dir);
  }

  /** Step checkpoints present, newest first. */
  list(): { step: number; path: string }[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: { step: number; path: string }[] = [];
    for (const n of names) {
      const m = CKPT_RE.exec(n);
      if (m) out.push({ step: Number(m[1]), path: join(this.dir, n) });
    }
    return out.sort((a, b) => b.step - a.step);
  }

  pathFor(step: number): string {
    return join(this.dir, `ckpt-${step}.safetensors`);
  }

  /**
   * Writes ckpt-<globalStep>.safetensors atomically, reads it back to verify it, and only then
   * deletes step checkpoints beyond the newest `keep`.
   */
  save(data: CheckpointData): string {
    const path = this.pathFor(data.progress.globalStep);
    this.write(path, data);
    const stale = this.list().filter((c) => c.path !== path).slice(this.keep - 1);
    for (const c of stale) {
      try {
        fs.unlinkSync(c.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return path;
  }

  /** Writes best.safetensors (outside the rotation). */
  saveBest(data: CheckpointData): string {
    const path = join(this.dir, BEST_CHECKPOINT);
    this.write(path, data);
    return path;
  }

  private write(path: string, data: CheckpointData): void {
    const bytes = serializeCheckpoint(data);
    makeDirectory(this.dir);
    writeFileAtomic(path, bytes, { fsOps: this.fsOps });
    const back = fs.readFileSync(path);
    if (sha256(back) !== sha256(bytes)) throw new CheckpointError('E_CKPT_CORRUPT', `${path}: read-back after writing does not match what was written`, path);
  }

  /**
   * The newest step checkpoint that loads and verifies. A damaged one is skipped with a warning
   * (falling back to the previous); no checkpoint file at all → E_CKPT_NOT_FOUND; files but none
   * valid → E_CKPT_NO_VALID listing why each failed. Never a silent fresh start.
   */
  loadLatest(): LoadedCheckpoint {
    if (!fs.existsSync(this.dir)) throw new CheckpointError('E_CKPT_NOT_FOUND', `resume directory ${this.dir} does not exist`, this.dir);
    const all = this.list();
    if (all.length === 0) throw new CheckpointError('E_CKPT_NOT_FOUND', `resume directory ${this.dir} holds no checkpoint (ckpt-<step>.safetensors)`, this.dir);
    const failures: string[] = [];
    for (const c of all) {
      try {
        const ck = loadCheckpoint(c.path);
        if (ck.progress.globalStep !== c.step) {
          throw new CheckpointError('E_CKPT_CORRUPT', `${c.path}: file name says step ${c.step} but metadata says ${ck.progress.globalStep}`, c.path);
        }
        if (failures.length) this.warn(`checkpoint fallback: using ${c.path} because newer checkpoint(s) failed to load: ${failures.join('; ')}`);
        return ck;
      } catch (err) {
        if (!(err instanceof CheckpointError) || err.code === 'E_CKPT_INCOMPATIBLE') throw err;
        failures.push(err.message);
      }
    }
    throw new CheckpointError('E_CKPT_NO_VALID', `no valid checkpoint in ${this.dir}: ${failures.join('; ')}`, this.dir);
  }
}

// ---------------------------------------------------------------------------------------------
// Compatibility

export interface ModelSpec {
  name: string;
  shape: readonly number[];
  dtype: DType;
}

export function modelSpecs(model: StateDict): ModelSpec[] {
  return entriesOf(model).map(([name, t]) => ({ name, shape: [...t.shape], dtype: t.dtype }));
}

/** Throws E_CKPT_INCOMPATIBLE listing each tensor whose presence, shape or dtype differs. */
export function checkArchitecture(loaded: Map<string, Tensor>, expected: StateDict, path: string): void {
  const want = new Map(entriesOf(expected));
  const diffs: string[] = [];
  for (const [name, t] of want) {
    const got = loaded.get(name);
    if (!got) diffs.push(`"${name}" [${t.shape.join(',')}] missing from the checkpoint`);
    else if (got.shape.join(',') !== t.shape.join(',') || got.dtype !== t.dtype) {
      diffs.push(`"${name}": checkpoint has [${got.shape.join(',')}] ${got.dtype}, model has [${t.shape.join(',')}] ${t.dtype}`);
    }
  }
  for (const [name, t] of loaded) if (!want.has(name)) diffs.push(`"${name}" [${t.shape.join(',')}] in the checkpoint but not in the model`);
  if (diffs.length) {
    const shown = diffs.slice(0, 10).join('; ') + (diffs.length > 10 ? `; and ${diffs.length - 10} more` : '');
    throw new CheckpointError('E_CKPT_INCOMPATIBLE', `${path}: checkpoint does not match the model's architecture: ${shown}`, path);
  }
}

/** A stable hash of a JSON-like config (object keys sorted). */
export function configHash(config: unknown): string {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]));
    }
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  };
  return sha256(JSON.stringify(canon(config)));
}
