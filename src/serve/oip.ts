// The Open Inference Protocol (KServe v2 / Triton) JSON shapes: model metadata, the infer request
// (checked field by field, with errors that name the field and what was expected) and the infer
// response. Nothing here touches HTTP; errors carry the status the server answers with.

import { HttpError } from '../errors.js';
import type { ModelMeta } from '../io/model-dir.js';

export { HttpError };

export const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Deepest JSON nesting a request may have; an infer request needs 7 (body, inputs, tensor, data
 *  nested by a 4-d sample shape). Deeper bodies are refused before they are parsed. */
export const MAX_JSON_DEPTH = 32;

/**
 * A short, printable rendering of an untrusted value for an error message. It walks at most a few
 * levels and stops at `max` characters, so a value nested thousands deep or megabytes long costs
 * O(max) (JSON.stringify would overflow the stack on the first and copy all of the second).
 */
export function show(v: unknown, max = 60): string {
  let out = '';
  const put = (s: string): boolean => {
    out += s;
    return out.length <= max;
  };
  const walk = (x: unknown, depth: number): boolean => {
    if (typeof x === 'string') return put(JSON.stringify(x.length > max ? x.slice(0, max + 1) : x));
    if (x === null || typeof x !== 'object') return put(x === undefined ? 'undefined' : String(x));
    const isArr = Array.isArray(x) || x instanceof Float32Array; // the body reader's number arrays
    if (depth >= 4) return put(isArr ? '[…]' : '{…}');
    if (!put(isArr ? '[' : '{')) return false;
    const keys = isArr ? null : Object.keys(x);
    const n = isArr ? (x as unknown[]).length : keys!.length;
    for (let i = 0; i < n; i++) {
      if (i > 0 && !put(',')) return false;
      if (keys && !put(`${JSON.stringify(keys[i]!.slice(0, max + 1))}:`)) return false;
      if (!walk(isArr ? (x as unknown[])[i] : (x as Record<string, unknown>)[keys![i]!], depth + 1)) return false;
    }
    return put(isArr ? ']' : '}');
  };
  walk(v, 0);
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

/** Model names are matched against the configured models only; this check keeps junk out of logs. */
export function checkModelName(name: unknown): string {
  if (typeof name !== 'string' || !MODEL_NAME_RE.test(name)) {
    throw new HttpError(400, `model name ${show(name, 140)} is invalid: expected 1–128 characters from [A-Za-z0-9_.-], starting with a letter or digit`);
  }
  return name;
}

export const INPUT_NAME = 'input';
export type OutputName = 'logits' | 'probabilities' | 'probability' | 'class';

export interface Signature {
  /** One sample's shape, e.g. [784] or [1, 28, 28]. */
  sampleShape: number[];
  sampleSize: number;
  outputs: { name: OutputName; datatype: 'FP32' | 'INT64'; shape: number[] }[];
}

export function signatureOf(meta: ModelMeta, numOutputs: number): Signature {
  const sampleShape = [...meta.input.shape];
  const outputs: Signature['outputs'] = meta.output === 'logits'
    ? [
        { name: 'logits', datatype: 'FP32', shape: [-1, numOutputs] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, numOutputs] },
        { name: 'class', datatype: 'INT64', shape: [-1] },
      ]
    : [
        { name: 'probability', datatype: 'FP32', shape: [-1, numOutputs] },
        { name: 'class', datatype: 'INT64', shape: [-1] },
      ];
  return { sampleShape, sampleSize: sampleShape.reduce((a, b) => a * b, 1), outputs };
}

export function modelMetadata(name: string, version: string, meta: ModelMeta, sig: Signature): object {
  const pre = meta.input.normalize
    ? { normalize: meta.input.normalize }
    : meta.input.standardize
      ? { standardize: meta.input.standardize }
      : {};
  return {
    name,
    versions: [version],
    platform: 'nabla',
    inputs: [{ name: INPUT_NAME, datatype: 'FP32', shape: [-1, ...sig.sampleShape] }],
    outputs: sig.outputs,
    // Inputs are raw (pixels in [0, 1], unscaled features); the server applies this preprocessing.
    parameters: { kind: meta.input.kind, classes: meta.classes, ...pre },
  };
}

export interface InferRequest {
  id?: string;
  rows: number;
  /** rows × sampleSize values, row-major, finite and within float32 range. */
  data: Float32Array;
  /** Outputs asked for (all when the request names none). */
  outputs: OutputName[];
}

const F32_MAX = 3.4028234663852886e38;

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function badNumber(field: string, v: unknown): HttpError {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return new HttpError(400, `${field}: expected a finite number, got NaN`);
    if (!Number.isFinite(v)) {
      return new HttpError(400, `${field}: expected a finite number, got ${v} (JSON numbers beyond ±1.8e308, such as 1e309, parse to Infinity)`);
    }
    return new HttpError(400, `${field}: ${v} is outside the float32 range (±3.4e38)`);
  }
  return new HttpError(400, `${field}: expected a number, got ${v === null ? 'null' : typeof v} ${show(v, 30)}`);
}

/** Copy `values` (checked) into `out` at `o`; returns the new offset. */
function copyNumbers(values: unknown[], out: Float32Array, o: number, field: string): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // one fast test for the common case; the slow path says what was wrong
    if (typeof v !== 'number' || !(v <= F32_MAX && v >= -F32_MAX)) throw badNumber(`${field}[${i}]`, v);
    out[o++] = v;
  }
  return o;
}

/** Nested arrays must follow `shape` exactly (lengths only; the numbers are checked while copying). */
function checkNested(values: unknown[], shape: number[], d: number, field: string): void {
  if (values.length !== shape[d]) {
    throw new HttpError(400, `${field}: expected ${shape[d]} elements along dimension ${d} of shape [${shape.join(', ')}], got ${values.length}`);
  }
  if (d === shape.length - 1) return;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Array.isArray(v)) throw new HttpError(400, `${field}[${i}]: expected an array (nested data must follow shape [${shape.join(', ')}]), got ${show(v, 30)}`);
    checkNested(v, shape, d + 1, `${field}[${i}]`);
  }
}

/** Flatten nested arrays that must follow `shape` exactly. */
function copyNested(values: unknown[], shape: number[], d: number, out: Float32Array, o: number, field: string): number {
  if (values.length !== shape[d]) {
    throw new HttpError(400, `${field}: expected ${shape[d]} elements along dimension ${d} of shape [${shape.join(', ')}], got ${values.length}`);
  }
  if (d === shape.length - 1) return copyNumbers(values, out, o, field);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Array.isArray(v)) throw new HttpError(400, `${field}[${i}]: expected an array (nested data must follow shape [${shape.join(', ')}]), got ${show(v, 30)}`);
    o = copyNested(v, shape, d + 1, out, o, `${field}[${i}]`);
  }
  return o;
}

function checkShape(raw: unknown, sig: Signature, field: string, maxRows: number): number {
  const want = `[N, ${sig.sampleShape.join(', ')}]${sig.sampleShape.length > 1 ? ` or [N, ${sig.sampleSize}]` : ''}`;
  if (!Array.isArray(raw) || !raw.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new HttpError(400, `${field}: expected an array of non-negative integers ${want}, got ${show(raw)}`);
  }
  const shape = raw as number[];
  const rest = shape.slice(1);
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (shape.length < 2 || !(same(rest, sig.sampleShape) || same(rest, [sig.sampleSize]))) {
    throw new HttpError(400, `${field}: expected ${want} with N ≥ 1 samples, got [${shape.join(', ')}]`);
  }
  if (shape[0]! < 1) throw new HttpError(400, `${field}: expected at least one sample (N ≥ 1), got [${shape.join(', ')}]`);
  if (shape[0]! > maxRows) {
    throw new HttpError(400, `${field}: ${shape[0]} samples in one request; this server takes at most ${maxRows} (--max-rows): split the request`, {}, 'E_TOO_MANY_ROWS');
  }
  return shape[0]!;
}

/** Check an OIP infer request body against the model's signature (at most `maxRows` samples). */
export function parseInferRequest(body: unknown, sig: Signature, maxRows = Number.MAX_SAFE_INTEGER): InferRequest {
  if (!isObj(body)) throw new HttpError(400, `body: expected a JSON object with an "inputs" array, got ${Array.isArray(body) ? 'an array' : show(body, 30)}`);
  let id: string | undefined;
  if (body.id !== undefined) {
    if (typeof body.id !== 'string') throw new HttpError(400, `id: expected a string, got ${show(body.id, 30)}`);
    id = body.id;
  }
  const inputs = body.inputs;
  if (!Array.isArray(inputs)) throw new HttpError(400, `inputs: expected an array of input tensors, got ${inputs === undefined ? 'nothing' : show(inputs, 30)}`);
  if (inputs.length !== 1) throw new HttpError(400, `inputs: expected exactly 1 input tensor named "${INPUT_NAME}", got ${inputs.length}`);
  const t = inputs[0];
  if (!isObj(t)) throw new HttpError(400, `inputs[0]: expected an object {name, shape, datatype, data}, got ${show(t, 30)}`);
  if (t.name !== INPUT_NAME) throw new HttpError(400, `inputs[0].name: expected "${INPUT_NAME}", got ${show(t.name)}`);
  if (t.datatype !== 'FP32') throw new HttpError(400, `inputs[0].datatype: expected "FP32" (the model's input datatype), got ${show(t.datatype)}`);
  if (isObj(t.parameters) && t.parameters.binary_data_size !== undefined) {
    throw new HttpError(400, 'inputs[0].parameters.binary_data_size: binary tensor data is not supported; send the values in "data" as JSON numbers');
  }
  const rows = checkShape(t.shape, sig, 'inputs[0].shape', maxRows);
  const shape = t.shape as number[];
  const n = rows * sig.sampleSize;
  const data = t.data;
  // the body reader hands over a flat array of in-range numbers as a Float32Array (json-body.ts)
  if (data instanceof Float32Array) {
    if (data.length !== n) throw new HttpError(400, `inputs[0].data: expected ${n} values for shape [${shape.join(', ')}], got ${data.length}`);
    return { id, rows, data, outputs: requestedOutputs(body, sig) };
  }
  if (!Array.isArray(data)) throw new HttpError(400, `inputs[0].data: expected an array of ${n} numbers (shape [${shape.join(', ')}]), got ${data === undefined ? 'nothing' : show(data, 30)}`);
  // Lengths are checked against the data actually sent before allocating: the declared shape
  // alone (say [1e9, 784]) must never size an allocation.
  let out: Float32Array;
  if (data.length > 0 && Array.isArray(data[0])) {
    checkNested(data, shape, 0, 'inputs[0].data');
    out = new Float32Array(n);
    copyNested(data, shape, 0, out, 0, 'inputs[0].data');
  } else {
    if (data.length !== n) throw new HttpError(400, `inputs[0].data: expected ${n} values for shape [${shape.join(', ')}], got ${data.length}`);
    out = new Float32Array(n);
    copyNumbers(data, out, 0, 'inputs[0].data');
  }
  return { id, rows, data: out, outputs: requestedOutputs(body, sig) };
}

function requestedOutputs(body: Record<string, unknown>, sig: Signature): OutputName[] {
  const known = sig.outputs.map((o) => o.name);
  let outputs: OutputName[] = known;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw new HttpError(400, `outputs: expected an array of {"name": ...}, got ${show(body.outputs, 30)}`);
    outputs = body.outputs.map((o, i) => {
      const name = isObj(o) ? o.name : undefined;
      if (typeof name !== 'string' || !known.includes(name as OutputName)) {
        throw new HttpError(400, `outputs[${i}].name: expected one of ${known.map((k) => `"${k}"`).join(', ')}, got ${show(name)}`);
      }
      return name as OutputName;
    });
  }
  return outputs;
}

/**
 * Inputs in float32 range can still overflow in the model's own preprocessing ((x − mean) / std);
 * an infinity there would be hidden by ReLU (NaN > 0 is false) and come out as a finite but
 * meaningless answer, so such values are refused like non-finite ones.
 */
export function checkScaled(data: Float32Array, sampleSize: number, input: ModelMeta['input']): void {
  const { normalize, standardize } = input;
  if (!normalize && !standardize) return;
  for (let i = 0; i < data.length; i++) {
    const j = i % sampleSize;
    const mean = normalize ? normalize.mean : standardize!.mean[j]!;
    const std = normalize ? normalize.std : standardize!.std[j]!;
    const v = (data[i]! - mean) / std;
    if (!(v <= F32_MAX && v >= -F32_MAX)) {
      throw new HttpError(400, `inputs[0].data[${i}]: ${data[i]} overflows float32 after the model's preprocessing (x − ${mean}) / ${std}; expected values on the scale the model was trained on`);
    }
  }
}

/** Values per output for a request's rows, as computed by the server. */
export interface RowsResult {
  scores: Float32Array; // logits, or the one probability
  probabilities?: Float32Array; // softmax of the logits
  classes: Int32Array;
}

export function checkFinite(values: Float32Array, width: number, what: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new HttpError(400, `the model's ${what}[${Math.floor(i / width)}][${i % width}] is ${values[i]} for this input: values this large overflow float32 arithmetic; send values on the scale the model was trained on`);
    }
  }
}

/** A typed array as the plain array JSON.stringify writes as a list (Array.from would go through
 *  an iterator, one result object per value). */
function plain(v: Float32Array | Int32Array): number[] {
  const a = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) a[i] = v[i]!;
  return a;
}

export function inferResponse(name: string, version: string, req: InferRequest, r: RowsResult, width: number): object {
  const outputs = req.outputs.map((o) => {
    if (o === 'class') return { name: o, datatype: 'INT64', shape: [req.rows], data: plain(r.classes) };
    const v = o === 'probabilities' ? r.probabilities! : r.scores;
    return { name: o, datatype: 'FP32', shape: [req.rows, width], data: plain(v) };
  });
  return req.id === undefined
    ? { model_name: name, model_version: version, outputs }
    : { model_name: name, model_version: version, id: req.id, outputs };
}
