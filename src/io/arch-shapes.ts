// The state-dict shapes an architecture description implies, computed from its numbers alone,
// without constructing (and allocating) any layer. A model file's weight header is checked
// against these before buildModule runs, so a model.json that asks for a 10,000,000-wide layer
// is refused at once instead of allocating gigabytes first. The layers' own constructors stay
// the authority: anything this table cannot read with certainty (a malformed field, an unknown
// type) returns undefined and is left to buildModule's checks; after building, the real state
// dict is checked against the file again.

import type { DType } from '../dtype.js';
import type { TensorSpec } from './safetensors.js';

type Cfg = Record<string, unknown>;

const MAX_DEPTH = 64;
const GATES: Record<string, number> = { RNN: 1, LSTM: 4, GRU: 3 };

const posInt = (v: unknown): number | undefined => (Number.isSafeInteger(v) && (v as number) >= 1 ? (v as number) : undefined);
const flag = (v: unknown, dflt: boolean): boolean | undefined => (v === undefined ? dflt : typeof v === 'boolean' ? v : undefined);
const floatType = (v: unknown): DType | undefined => (v === undefined ? 'float32' : v === 'float32' || v === 'float64' ? v : undefined);
function pair(v: unknown): [number, number] | undefined {
  if (Array.isArray(v) && v.length === 2) {
    const a = posInt(v[0]), b = posInt(v[1]);
    return a && b ? [a, b] : undefined;
  }
  const a = posInt(v);
  return a ? [a, a] : undefined;
}

/** name → spec for every tensor of the module `description` builds, or undefined if unsure. */
export function expectedStateShapes(description: unknown): Map<string, TensorSpec> | undefined {
  const out = new Map<string, TensorSpec>();
  return walk(description, '', 0, out) ? out : undefined;
}

function walk(d: unknown, prefix: string, depth: number, out: Map<string, TensorSpec>): boolean {
  if (depth > MAX_DEPTH || d === null || typeof d !== 'object' || Array.isArray(d)) return false;
  const c = d as Cfg;
  const put = (name: string, shape: number[], dtype: DType) => out.set(prefix + name, { shape, dtype });
  switch (c.type) {
    case 'Sequential': {
      if (!Array.isArray(c.layers)) return false;
      return c.layers.every((l, i) => walk(l, `${prefix}${i}.`, depth + 1, out));
    }
    case 'Linear': {
      const i = posInt(c.inFeatures), o = posInt(c.outFeatures), b = flag(c.bias, true), t = floatType(c.dtype);
      if (!i || !o || b === undefined || !t) return false;
      put('weight', [o, i], t);
      if (b) put('bias', [o], t);
      return true;
    }
    case 'Conv2d': {
      const i = posInt(c.inChannels), o = posInt(c.outChannels), k = pair(c.kernelSize), g = c.groups === undefined ? 1 : posInt(c.groups);
      const b = flag(c.bias, true), t = floatType(c.dtype);
      if (!i || !o || !k || !g || i % g !== 0 || b === undefined || !t) return false;
      put('weight', [o, i / g, k[0], k[1]], t);
      if (b) put('bias', [o], t);
      return true;
    }
    case 'BatchNorm1d':
    case 'BatchNorm2d': {
      const n = posInt(c.numFeatures), affine = flag(c.affine, true), track = flag(c.trackRunningStats, true), t = floatType(c.dtype);
      if (!n || affine === undefined || track === undefined || !t) return false;
      if (affine) {
        put('weight', [n], t);
        put('bias', [n], t);
      }
      if (track) {
        put('running_mean', [n], t);
        put('running_var', [n], t);
        put('num_batches_tracked', [], 'int32');
      }
      return true;
    }
    case 'Embedding': {
      const n = posInt(c.numEmbeddings), e = posInt(c.embeddingDim), t = floatType(c.dtype);
      if (!n || !e || !t) return false;
      put('weight', [n, e], t);
      return true;
    }
    case 'RNN':
    case 'LSTM':
    case 'GRU': {
      const i = posInt(c.inputSize), h = posInt(c.hiddenSize), layers = c.numLayers === undefined ? 1 : posInt(c.numLayers);
      const b = flag(c.bias, true), t = floatType(c.dtype);
      if (!i || !h || !layers || b === undefined || !t) return false;
      const g = GATES[c.type]! * h;
      for (let l = 0; l < layers; l++) {
        put(`weight_ih_l${l}`, [g, l === 0 ? i : h], t);
        put(`weight_hh_l${l}`, [g, h], t);
        if (b) {
          put(`bias_ih_l${l}`, [g], t);
          put(`bias_hh_l${l}`, [g], t);
        }
      }
      return true;
    }
    case 'MaxPool2d': case 'AvgPool2d': case 'Flatten': case 'Dropout': case 'ReLU': case 'LeakyReLU':
    case 'Sigmoid': case 'Tanh': case 'Softmax': case 'LogSoftmax': case 'Identity':
      return true;
    default:
      return false;
  }
}
