// ONNX ModelProto → a Nabla layer chain (Sequential) with its weights, for a model directory.
// Accepted: one float input (batch first) flowing through a chain of nodes to one output, opset
// 13 and later of the default domain, the ops in SUPPORTED_OPS. Everything is checked before a
// model exists: a truncated or corrupt protobuf, an unsupported op (named with its node), a cycle,
// an initializer whose data or shape is wrong, tensor data stored outside the file.

import { noGrad } from '../../autograd.js';
import { AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GELU, Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax, MaxPool2d, ReLU, Sequential, Sigmoid, Softmax, Softplus, Tanh, type Module } from '../../nn/index.js';
import { tensor, zeros, type Tensor } from '../../tensor.js';
import type { InputSpec } from '../model-dir.js';
import { OnnxError } from './errors.js';
import { decodeTensor, shortestFloat32, type Init } from './tensor-data.js';
export { decodeTensor, type Init };
import { matchActivation, type ActGraph } from './import-act.js';
import { textArchitectureOf } from './import-text.js';
import { DataType, decodeModel, type OnnxAttribute, type OnnxGraph, type OnnxModel, type OnnxNode } from './schema.js';

export const SUPPORTED_OPS = [
  'Gemm', 'MatMul', 'Add', 'Conv', 'MaxPool', 'AveragePool', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Softmax', 'LogSoftmax',
  'Flatten', 'Reshape', 'BatchNormalization', 'LayerNormalization', 'Gelu', 'Dropout', 'Identity', 'Constant', 'Pad',
  'Softplus', 'Div', 'Mul', 'Erf',
] as const;
export const MIN_IMPORT_OPSET = 13;
export const MAX_IMPORT_OPSET = 21;

export interface ImportedModel {
  model: Sequential;
  input: InputSpec;
  output: 'logits' | 'probability';
  classes: string[];
  opset: number;
  producer: string;
}


const fail = (code: ConstructorParameters<typeof OnnxError>[0], msg: string): never => {
  throw new OnnxError(code, msg);
};
const q = JSON.stringify;
const fmt = (s: readonly number[]) => `[${s.join(',')}]`;
const nodeName = (n: OnnxNode, i: number) => (n.name ? q(n.name) : `#${i}`);

// ---------------------------------------------------------------------------------------------
// Attributes

function attrs(n: OnnxNode): Map<string, OnnxAttribute> {
  return new Map((n.attribute ?? []).map((a) => [a.name ?? '', a]));
}
const attrInt = (a: Map<string, OnnxAttribute>, k: string, d: number): number => (a.has(k) ? Number(a.get(k)!.i ?? 0) : d);
const attrFloat = (a: Map<string, OnnxAttribute>, k: string, d: number): number => (a.has(k) ? Number(a.get(k)!.f ?? 0) : d);
/** A float attribute (float32 on the wire) as its shortest decimal, so eps 1e-5 comes back as 1e-5. */
const attrFloat32 = (a: Map<string, OnnxAttribute>, k: string, d: number): number => shortestFloat32(attrFloat(a, k, d));
const attrInts = (a: Map<string, OnnxAttribute>, k: string): number[] | undefined => (a.has(k) ? (a.get(k)!.ints ?? []).map(Number) : undefined);
const attrString = (a: Map<string, OnnxAttribute>, k: string): string | undefined =>
  a.has(k) ? new TextDecoder().decode(a.get(k)!.s ?? new Uint8Array()) : undefined;

// ---------------------------------------------------------------------------------------------
// Graph structure

/** Nodes in an order where every value is produced before it is used; throws on a cycle. */
function topoSort(nodes: OnnxNode[], available: Set<string>): OnnxNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) {
      if (o === '') continue;
      if (producer.has(o) || available.has(o)) fail('E_ONNX_GRAPH', `value ${q(o)} is produced twice (node ${nodeName(n, i)}); ONNX graphs are single-assignment`);
      producer.set(o, i);
    }
  });
  const indeg = nodes.map(() => 0);
  const users = nodes.map(() => [] as number[]);
  nodes.forEach((n, i) => {
    for (const v of n.input ?? []) {
      if (v === '') continue; // an omitted optional input
      const p = producer.get(v);
      if (p !== undefined) {
        indeg[i]!++;
        users[p]!.push(i);
      } else if (!available.has(v)) {
        fail('E_ONNX_GRAPH', `node ${nodeName(n, i)} (${n.opType}) reads ${q(v)}, which no node, input or initializer provides`);
      }
    }
  });
  const ready = indeg.flatMap((d, i) => (d === 0 ? [i] : []));
  const order: OnnxNode[] = [];
  while (ready.length) {
    const i = ready.shift()!;
    order.push(nodes[i]!);
    for (const u of users[i]!) if (--indeg[u]! === 0) ready.push(u);
  }
  if (order.length < nodes.length) {
    const stuck = indeg.flatMap((d, i) => (d > 0 ? [nodeName(nodes[i]!, i)] : []));
    fail('E_ONNX_CYCLE', `the graph has a cycle through node(s) ${stuck.slice(0, 5).join(', ')}${stuck.length > 5 ? ', ...' : ''}; an ONNX graph must be acyclic`);
  }
  return order;
}

function graphInputShape(g: OnnxGraph, name: string): number[] {
  const vi = g.input!.find((v) => v.name === name)!;
  const tt = vi.type?.tensorType;
  if (!tt) fail('E_ONNX_GRAPH', `graph input ${q(name)} is not a tensor`);
  if (tt!.elemType !== DataType.FLOAT) fail('E_ONNX_GRAPH', `graph input ${q(name)} has element type ${tt!.elemType}; expected FLOAT (1)`);
  const dims = tt!.shape?.dim ?? [];
  if (dims.length < 2) fail('E_ONNX_GRAPH', `graph input ${q(name)} has rank ${dims.length}; expected a batch dimension and at least one more`);
  return dims.slice(1).map((d, i) => {
    const v = d.dimValue === undefined ? NaN : Number(d.dimValue);
    if (!Number.isSafeInteger(v) || v <= 0) fail('E_ONNX_GRAPH', `graph input ${q(name)} dim ${i + 1} is ${d.dimParam ? q(d.dimParam) : 'unknown'}; only the batch dimension (0) may be symbolic`);
    return v;
  });
}

// ---------------------------------------------------------------------------------------------
// Op → layer

interface Ctx {
  inits: Map<string, Init>;
  node: OnnxNode;
  idx: number;
  /** Shape of the chain value entering the node, batch dim included (traced with batch 1). */
  shape: number[];
  /** The model's default-domain opset. */
  opset: number;
}

function initOf(c: Ctx, pos: number, what: string, optional = false): Init | undefined {
  const name = c.node.input?.[pos];
  if (name === undefined || name === '') {
    if (optional) return undefined;
    fail('E_ONNX_GRAPH', `node ${nodeName(c.node, c.idx)} (${c.node.opType}) has no ${what} input`);
  }
  const t = c.inits.get(name!);
  if (!t) fail('E_ONNX_UNSUPPORTED_OP', `node ${nodeName(c.node, c.idx)} (${c.node.opType}): its ${what} ${q(name)} is computed by the graph; Nabla imports it only as an initializer or Constant`);
  return t;
}

function expectDims(c: Ctx, t: Init, want: number[], what: string): void {
  if (t.dims.length !== want.length || t.dims.some((d, i) => d !== want[i])) {
    fail('E_ONNX_INITIALIZER', `node ${nodeName(c.node, c.idx)} (${c.node.opType}): ${what} ${q(t.name)} has shape ${fmt(t.dims)}, expected ${fmt(want)}`);
  }
}

function floatTensor(c: Ctx, t: Init, what: string, shape = t.dims): Tensor {
  if (!t.isFloat) fail('E_ONNX_INITIALIZER', `node ${nodeName(c.node, c.idx)} (${c.node.opType}): ${what} ${q(t.name)} is an integer tensor; expected float`);
  return tensor(t.data as Float32Array, { shape });
}

function unsupported(c: Ctx, why: string): never {
  return fail('E_ONNX_UNSUPPORTED_OP', `node ${nodeName(c.node, c.idx)} (op ${c.node.opType}): ${why}`);
}

/** Symmetric 2-D pads [top, left, bottom, right] → [h, w]. */
function pads2(c: Ctx, a: Map<string, OnnxAttribute>): [number, number] {
  const ap = attrString(a, 'auto_pad');
  if (ap !== undefined && ap !== 'NOTSET') unsupported(c, `auto_pad ${q(ap)}; expected NOTSET with explicit pads`);
  const p = attrInts(a, 'pads') ?? [0, 0, 0, 0];
  if (p.length !== 4) unsupported(c, `pads ${fmt(p)}; expected 4 values for a 2-D op`);
  if (p[0] !== p[2] || p[1] !== p[3]) unsupported(c, `asymmetric pads ${fmt(p)}; Nabla pads both sides equally`);
  return [p[0]!, p[1]!];
}

const pairOf = (v: number[] | undefined, d: number, c: Ctx, what: string): [number, number] => {
  if (v === undefined) return [d, d];
  if (v.length !== 2) unsupported(c, `${what} ${fmt(v)}; expected 2 values (2-D only)`);
  return [v[0]!, v[1]!];
};

/** Loads named tensors into a fresh layer, checking each shape against the layer's own. */
function withWeights<M extends Module>(c: Ctx, m: M, w: Record<string, Tensor>): M {
  noGrad(() => {
    const sd = m.stateDict();
    for (const [k, v] of Object.entries(w)) {
      const dst = sd.get(k)!;
      if (dst.shape.length !== v.shape.length || dst.shape.some((d, i) => d !== v.shape[i])) {
        fail('E_ONNX_INITIALIZER', `node ${nodeName(c.node, c.idx)} (${c.node.opType}): ${k} has shape ${fmt(v.shape)}, the layer needs ${fmt(dst.shape)}`);
      }
    }
    m.loadStateDict(new Map(Object.entries(w)), { strict: false });
  });
  return m;
}

function checkFeatures(c: Ctx, w: Tensor): void {
  const feat = c.shape[c.shape.length - 1];
  if (feat !== w.shape[1]) fail('E_ONNX_INITIALIZER', `node ${nodeName(c.node, c.idx)} (${c.node.opType}): weight takes ${w.shape[1]} features but its input has ${feat} (shape ${fmt(c.shape)})`);
}

function linearFrom(c: Ctx, w: Tensor, b: Tensor | undefined): Module {
  const out = w.shape[0]!;
  const inF = w.shape[1]!;
  checkFeatures(c, w);
  if (b && (b.shape.length !== 1 || b.shape[0] !== out)) fail('E_ONNX_INITIALIZER', `node ${nodeName(c.node, c.idx)} (${c.node.opType}): bias has shape ${fmt(b.shape)}, expected [${out}]`);
  return withWeights(c, new Linear(inF, out, { bias: b !== undefined }), b ? { weight: w, bias: b } : { weight: w });
}

/** A bias for Gemm's C / Add's B: [out] or [1, out]. */
function biasVec(c: Ctx, t: Init, out: number): Tensor {
  if (!(t.dims.length === 1 && t.dims[0] === out) && !(t.dims.length === 2 && t.dims[0] === 1 && t.dims[1] === out)) {
    fail('E_ONNX_INITIALIZER', `node ${nodeName(c.node, c.idx)} (${c.node.opType}): bias ${q(t.name)} has shape ${fmt(t.dims)}, expected [${out}]`);
  }
  return floatTensor(c, t, 'bias', [out]);
}

/** LayerNormalization → nn.LayerNorm over the dims from `axis` on (never the batch dim). */
function layerNormFrom(c: Ctx, a: Map<string, OnnxAttribute>): Module {
  const n = c.node;
  const rank = c.shape.length;
  if (c.opset < 17) fail('E_ONNX_OPSET', `node ${nodeName(n, c.idx)} (LayerNormalization) in a model of opset ${c.opset}; the default domain has LayerNormalization from opset 17`);
  const stash = attrInt(a, 'stash_type', 1);
  if (stash !== 1) unsupported(c, `stash_type ${stash}; Nabla computes LayerNorm statistics in the input's float32 (stash_type 1)`);
  if ((n.output ?? []).slice(1).some((o) => o !== '')) unsupported(c, 'the Mean / InvStdDev outputs; Nabla imports the normalised output only');
  const axisAttr = attrInt(a, 'axis', -1);
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  if (axis < 1 || axis >= rank) unsupported(c, `axis ${axisAttr} on an input of rank ${rank}; Nabla normalises trailing dims after the batch dimension (axis 1 to ${rank - 1}, or -1 to ${1 - rank})`);
  const ns = c.shape.slice(axis);
  const S = initOf(c, 1, 'Scale')!;
  expectDims(c, S, ns, 'Scale');
  const B = initOf(c, 2, 'B', true);
  if (B) expectDims(c, B, ns, 'B');
  const scale = floatTensor(c, S, 'Scale');
  const bias = B ? floatTensor(c, B, 'B') : undefined;
  // As for BatchNormalization: constant ones/zeros not named "<layer>.weight/.bias" are a
  // non-affine LayerNorm (how Nabla exports elementwiseAffine false); a missing B is a zero bias.
  const named = [1, 2].some((i) => /\.(weight|bias)$/.test(n.input?.[i] ?? ''));
  const unit = scale.toTypedArray().every((v) => v === 1) && (!bias || bias.toTypedArray().every((v) => v === 0));
  const affine = named || !unit;
  const m = new LayerNorm(ns, { eps: attrFloat32(a, 'epsilon', 1e-5), elementwiseAffine: affine });
  return affine ? withWeights(c, m, bias ? { weight: scale, bias } : { weight: scale }) : m;
}

function layerFor(c: Ctx, next: OnnxNode | undefined): { layer: Module | undefined; consumed: number } {
  const n = c.node;
  const a = attrs(n);
  const op = n.opType!;
  const rank = c.shape.length;
  switch (op) {
    case 'Gemm': {
      if (attrFloat(a, 'alpha', 1) !== 1 || attrFloat(a, 'beta', 1) !== 1 || attrInt(a, 'transA', 0) !== 0) unsupported(c, 'alpha/beta other than 1 or transA=1');
      if (rank !== 2) unsupported(c, `input of rank ${rank}; Gemm takes a matrix`);
      const W = initOf(c, 1, 'B')!;
      if (W.dims.length !== 2) expectDims(c, W, [0, 0], 'weight');
      const transB = attrInt(a, 'transB', 0) === 1;
      let w = floatTensor(c, W, 'weight');
      if (!transB) w = w.transpose(0, 1).contiguous(); // exact: values are only moved
      const C = initOf(c, 2, 'C', true);
      checkFeatures(c, w);
      return { layer: linearFrom(c, w, C ? biasVec(c, C, w.shape[0]!) : undefined), consumed: 1 };
    }
    case 'MatMul': {
      const W = initOf(c, 1, 'B')!;
      if (W.dims.length !== 2) unsupported(c, `weight ${q(W.name)} of rank ${W.dims.length}; Nabla maps MatMul with a 2-D initializer to Linear`);
      const w = floatTensor(c, W, 'weight').transpose(0, 1).contiguous();
      const out = n.output?.[0];
      // MatMul then Add(bias) is one Linear (torch.onnx.export writes Linear on rank > 2 this way);
      // Add is commutative and torch puts the bias first
      const other = next?.opType === 'Add' && next.input?.length === 2 && out !== undefined && next.input.includes(out) ? next.input.find((v) => v !== out) : undefined;
      checkFeatures(c, w);
      if (other !== undefined && c.inits.has(other)) {
        const bias = c.inits.get(other)!;
        return { layer: linearFrom(c, w, biasVec({ ...c, node: next!, idx: c.idx + 1 }, bias, w.shape[0]!)), consumed: 2 };
      }
      return { layer: linearFrom(c, w, undefined), consumed: 1 };
    }
    case 'Add':
      return unsupported(c, 'Add is imported only as the bias of a preceding MatMul');
    case 'Pad': {
      // torch.onnx.export writes AvgPool2d(padding=p) as Pad(zeros) + AveragePool (count_include_pad)
      const mode = attrString(a, 'mode') ?? 'constant';
      const P = initOf(c, 1, 'pads')!;
      const cv = initOf(c, 2, 'constant_value', true);
      if (initOf(c, 3, 'axes', true)) unsupported(c, 'the axes input');
      const pads = P.data as number[];
      if (P.isFloat || pads.length !== 2 * rank) unsupported(c, `pads ${fmt(pads)} for an input of rank ${rank}`);
      if (pads.every((v) => v === 0)) return { layer: undefined, consumed: 1 };
      const ph = pads[2], pw = pads[3];
      const ok = rank === 4 && mode === 'constant' && (!cv || Number(cv.data[0]) === 0) && pads[0] === 0 && pads[1] === 0 && pads[4] === 0 && pads[5] === 0 && pads[6] === ph && pads[7] === pw;
      const na = next ? attrs(next) : undefined;
      if (!ok || !next || next.opType !== 'AveragePool' || next.input?.[0] !== n.output?.[0] || (attrInts(na!, 'pads') ?? [0]).some((v) => v !== 0)) {
        unsupported(c, `pads ${fmt(pads)} (mode ${mode}); Nabla imports a Pad only as the zero padding of a following AveragePool`);
      }
      const nc: Ctx = { ...c, node: next!, idx: c.idx + 1 };
      if (attrInt(na!, 'ceil_mode', 0) !== 0) unsupported(nc, 'ceil_mode=1; Nabla pools with floor');
      const ks = pairOf(attrInts(na!, 'kernel_shape'), NaN, nc, 'kernel_shape');
      try {
        return { layer: new AvgPool2d(ks, { stride: pairOf(attrInts(na!, 'strides'), 1, nc, 'strides'), padding: [ph!, pw!], countIncludePad: true }), consumed: 2 };
      } catch (e) {
        return unsupported(c, `padding ${fmt([ph!, pw!])} before AveragePool: ${(e as Error).message}`);
      }
    }
    case 'Conv': {
      if (rank !== 4) unsupported(c, `input of rank ${rank}; Nabla has Conv2d (rank 4) only`);
      const W = initOf(c, 1, 'W')!;
      if (W.dims.length !== 4) unsupported(c, `weight ${q(W.name)} of rank ${W.dims.length}; expected 4 (2-D convolution)`);
      const [outC, inPerGroup, kh, kw] = W.dims as [number, number, number, number];
      const ks = pairOf(attrInts(a, 'kernel_shape'), NaN, c, 'kernel_shape');
      if (!Number.isNaN(ks[0]) && (ks[0] !== kh || ks[1] !== kw)) fail('E_ONNX_INITIALIZER', `node ${nodeName(n, c.idx)} (Conv): kernel_shape ${fmt(ks)} does not match weight ${q(W.name)} ${fmt(W.dims)}`);
      const group = attrInt(a, 'group', 1);
      if (inPerGroup * group !== c.shape[1]) fail('E_ONNX_INITIALIZER', `node ${nodeName(n, c.idx)} (Conv): weight ${q(W.name)} ${fmt(W.dims)} with group ${group} takes ${inPerGroup * group} channels but the input has ${c.shape[1]}`);
      const B = initOf(c, 2, 'B', true);
      if (B) expectDims(c, B, [outC], 'bias');
      const m = new Conv2d(c.shape[1]!, outC, [kh, kw], {
        stride: pairOf(attrInts(a, 'strides'), 1, c, 'strides'),
        padding: pads2(c, a),
        dilation: pairOf(attrInts(a, 'dilations'), 1, c, 'dilations'),
        groups: group,
        bias: B !== undefined,
      });
      return { layer: withWeights(c, m, B ? { weight: floatTensor(c, W, 'weight'), bias: floatTensor(c, B, 'bias') } : { weight: floatTensor(c, W, 'weight') }), consumed: 1 };
    }
    case 'MaxPool':
    case 'AveragePool': {
      if (rank !== 4) unsupported(c, `input of rank ${rank}; Nabla pools 2-D (rank 4) only`);
      if (attrInt(a, 'ceil_mode', 0) !== 0) unsupported(c, 'ceil_mode=1; Nabla pools with floor');
      if ((n.output?.length ?? 1) > 1 && n.output![1] !== '') unsupported(c, 'the Indices output');
      const ks = pairOf(attrInts(a, 'kernel_shape'), NaN, c, 'kernel_shape');
      if (Number.isNaN(ks[0])) unsupported(c, 'no kernel_shape');
      const stride = pairOf(attrInts(a, 'strides'), 1, c, 'strides');
      const padding = pads2(c, a);
      if (op === 'MaxPool') return { layer: new MaxPool2d(ks, { stride, padding, dilation: pairOf(attrInts(a, 'dilations'), 1, c, 'dilations') }), consumed: 1 };
      if (attrInts(a, 'dilations')?.some((d) => d !== 1)) unsupported(c, 'dilated average pooling');
      return { layer: new AvgPool2d(ks, { stride, padding, countIncludePad: attrInt(a, 'count_include_pad', 0) === 1 }), consumed: 1 };
    }
    case 'Relu':
      return { layer: new ReLU(), consumed: 1 };
    case 'Sigmoid':
      return { layer: new Sigmoid(), consumed: 1 };
    case 'Softplus':
      return { layer: new Softplus(), consumed: 1 };
    case 'Mul':
    case 'Div':
    case 'Erf':
      return unsupported(c, 'Nabla imports Mul, Div and Erf only inside the subgraphs of GELU (Erf or tanh form), SiLU (x·Sigmoid(x)) and Softplus(β·x)/β');
    case 'Tanh':
      return { layer: new Tanh(), consumed: 1 };
    case 'LeakyRelu':
      return { layer: new LeakyReLU(attrFloat32(a, 'alpha', 0.01)), consumed: 1 };
    case 'Softmax':
      return { layer: new Softmax(attrInt(a, 'axis', -1)), consumed: 1 };
    case 'LogSoftmax':
      return { layer: new LogSoftmax(attrInt(a, 'axis', -1)), consumed: 1 };
    case 'Identity':
      return { layer: new Identity(), consumed: 1 };
    case 'Dropout': {
      const r = initOf(c, 1, 'ratio', true);
      const p = r ? shortestFloat32(Number(r.data[0] ?? 0.5)) : 0.5;
      if ((n.output?.length ?? 1) > 1 && n.output![1] !== '') unsupported(c, 'the mask output (training mode)');
      return { layer: new Dropout(p >= 0 && p < 1 ? p : 0.5), consumed: 1 };
    }
    case 'Flatten': {
      let axis = attrInt(a, 'axis', 1);
      if (axis < 0) axis += rank;
      if (axis !== 1) unsupported(c, `axis ${attrInt(a, 'axis', 1)}; Nabla keeps the batch dimension (axis 1)`);
      return { layer: new Flatten(1, -1), consumed: 1 };
    }
    case 'Reshape': {
      const s = initOf(c, 1, 'shape')!;
      if (s.isFloat || s.dims.length !== 1) fail('E_ONNX_INITIALIZER', `node ${nodeName(n, c.idx)} (Reshape): shape ${q(s.name)} must be a 1-D integer tensor`);
      if (attrInt(a, 'allowzero', 0) !== 0) unsupported(c, 'allowzero=1');
      const target = s.data as number[];
      // A Reshape is a Flatten when, for any batch size, it keeps the batch and flattens the rest
      const flat = [1, 3].every((batch) => {
        const inS = [batch, ...c.shape.slice(1)];
        const total = inS.reduce((x, y) => x * y, 1);
        const res = target.map((d, i) => (d === 0 ? inS[i] : d));
        const known = res.reduce((x: number, y) => (y === -1 ? x : x * y!), 1);
        const out = res.map((d) => (d === -1 ? total / known : d));
        return out.length === 2 && out[0] === batch && out[1] === total / batch;
      });
      if (!flat) unsupported(c, `shape ${fmt(target)} on input ${fmt(c.shape)}; Nabla imports a Reshape only when it flattens all but the batch dimension`);
      return { layer: new Flatten(1, -1), consumed: 1 };
    }
    case 'BatchNormalization': {
      if (attrInt(a, 'training_mode', 0) !== 0 || (n.output?.length ?? 1) > 1) unsupported(c, 'training mode (extra outputs)');
      if (rank !== 2 && rank !== 4) unsupported(c, `input of rank ${rank}; Nabla has BatchNorm1d on [N, C] and BatchNorm2d on [N, C, H, W]`);
      const C = c.shape[1]!;
      const parts = ['scale', 'B', 'input_mean', 'input_var'].map((w, i) => {
        const t = initOf(c, i + 1, w)!;
        expectDims(c, t, [C], w);
        return floatTensor(c, t, w);
      });
      const m = attrFloat(a, 'momentum', 0.9);
      // A constant unit scale and zero shift not named as parameters is a non-affine BatchNorm
      // (how Nabla exports affine=false); PyTorch names its parameters "<layer>.weight/.bias".
      const named = [1, 2].some((i) => /\.(weight|bias)$/.test(n.input![i]!));
      const unit = parts[0]!.toTypedArray().every((v) => v === 1) && parts[1]!.toTypedArray().every((v) => v === 0);
      const affine = named || !unit;
      const opts = { eps: attrFloat32(a, 'epsilon', 1e-5), momentum: Number((1 - m).toPrecision(6)), affine };
      const bn = rank === 2 ? new BatchNorm1d(C, opts) : new BatchNorm2d(C, opts);
      const stats = { running_mean: parts[2]!, running_var: parts[3]! };
      return { layer: withWeights(c, bn, affine ? { weight: parts[0]!, bias: parts[1]!, ...stats } : stats), consumed: 1 };
    }
    case 'LayerNormalization':
      return { layer: layerNormFrom(c, a), consumed: 1 };
    case 'Gelu': {
      if (c.opset < 20) fail('E_ONNX_OPSET', `node ${nodeName(n, c.idx)} (Gelu) in a model of opset ${c.opset}; the default domain has Gelu from opset 20`);
      const approx = attrString(a, 'approximate') ?? 'none';
      if (approx !== 'none' && approx !== 'tanh') unsupported(c, `approximate ${q(approx)}; expected "none" or "tanh"`);
      return { layer: new GELU(approx as 'none' | 'tanh'), consumed: 1 };
    }
    default:
      return unsupported(c, `not supported; Nabla imports ${SUPPORTED_OPS.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------

function metaProp(m: OnnxModel, key: string): string | undefined {
  return m.metadataProps?.find((p) => p.key === key)?.value;
}

function parseJson(s: string | undefined): unknown {
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** The file's ModelProto, or E_ONNX_PARSE naming why the protobuf does not decode. */
export function decodeOrFail(bytes: Uint8Array): OnnxModel {
  try {
    return decodeModel(bytes);
  } catch (e) {
    return fail('E_ONNX_PARSE', `not a valid ONNX model (protobuf ModelProto): ${(e as Error).message}; the file may be truncated or corrupt`);
  }
}

/** Decodes and validates an ONNX file image and builds the equivalent layer chain. */
export function importOnnx(bytes: Uint8Array): ImportedModel {
  const m = decodeOrFail(bytes);
  const g = m.graph;
  if (!g || (!g.node?.length && !g.output?.length)) fail('E_ONNX_PARSE', 'the file decodes but holds no ONNX graph; expected a ModelProto with a graph (is it an .onnx file?)');
  const text = textArchitectureOf(m);
  if (text) fail('E_ONNX_GRAPH', `the file is a Nabla ${String(text.type)} graph (token ids in), not a layer chain; import it with importTextOnnx (\`nabla import\` does so)`);
  const defaultOpset = m.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = Number(defaultOpset?.version ?? NaN);
  if (!Number.isInteger(opset) || opset < MIN_IMPORT_OPSET || opset > MAX_IMPORT_OPSET) {
    fail('E_ONNX_OPSET', `the model imports opset ${Number.isNaN(opset) ? 'none' : opset} of the default domain; Nabla imports opsets ${MIN_IMPORT_OPSET} to ${MAX_IMPORT_OPSET}`);
  }
  const nodes = g!.node ?? [];
  // Unsupported ops first: the most useful message names every op Nabla lacks.
  nodes.forEach((n, i) => {
    if (n.domain && n.domain !== 'ai.onnx') fail('E_ONNX_UNSUPPORTED_OP', `node ${nodeName(n, i)} has op ${q(n.opType)} of domain ${q(n.domain)}; Nabla imports the default ONNX domain only`);
    if (!(SUPPORTED_OPS as readonly string[]).includes(n.opType ?? '')) {
      fail('E_ONNX_UNSUPPORTED_OP', `node ${nodeName(n, i)} has op ${q(n.opType)}, which Nabla cannot import; supported ops: ${SUPPORTED_OPS.join(', ')}`);
    }
  });

  const inits = new Map<string, Init>();
  for (const t of g!.initializer ?? []) {
    if (!t.name) fail('E_ONNX_INITIALIZER', 'an initializer has no name');
    if (inits.has(t.name!)) fail('E_ONNX_INITIALIZER', `initializer ${q(t.name)} appears twice`);
    inits.set(t.name!, decodeTensor(t, `initializer ${q(t.name)}`));
  }
  // Constants are initializers written as nodes (torch.onnx.export uses them for Reshape shapes).
  const compute: OnnxNode[] = [];
  nodes.forEach((n, i) => {
    if (n.opType !== 'Constant') return void compute.push(n);
    const v = attrs(n).get('value');
    if (!v?.t || (n.output?.length ?? 0) !== 1) unsupported({ inits, node: n, idx: i, shape: [], opset }, 'a Constant other than a tensor "value"');
    inits.set(n.output![0]!, decodeTensor({ ...v!.t!, name: n.output![0] }, `Constant ${nodeName(n, i)}`));
  });

  const realInputs = (g!.input ?? []).filter((v) => !inits.has(v.name ?? ''));
  if (realInputs.length !== 1) fail('E_ONNX_GRAPH', `the graph has ${realInputs.length} non-initializer inputs (${realInputs.map((v) => q(v.name)).join(', ')}); expected exactly one`);
  if ((g!.output?.length ?? 0) !== 1) fail('E_ONNX_GRAPH', `the graph has ${g!.output?.length ?? 0} outputs; expected exactly one`);
  const inputName = realInputs[0]!.name!;
  const outputName = g!.output![0]!.name!;
  const sample = graphInputShape(g!, inputName);

  const order = topoSort(compute, new Set([inputName, ...inits.keys()]));
  const layers: Module[] = [];
  let cur = inputName;
  let x: Tensor = zeros([1, ...sample]);
  const users = new Map<string, OnnxNode[]>();
  for (const n of compute) for (const v of new Set(n.input ?? [])) users.set(v, [...(users.get(v) ?? []), n]);
  const actGraph: ActGraph = { inits, users, indexOf: (n) => nodes.indexOf(n) };
  const inSubgraph = new Set<OnnxNode>();
  for (let i = 0; i < order.length; ) {
    const n = order[i]!;
    if (inSubgraph.has(n)) {
      i++;
      continue;
    }
    const idx = nodes.indexOf(n);
    // Activations spelled as subgraphs (GELU below opset 20, SiLU, Softplus with β) read the
    // chain value in more than one node, the first not necessarily as input 0.
    const act = n.input?.includes(cur) ? matchActivation(actGraph, n, cur) : undefined;
    if (act) {
      act.layer.eval();
      x = noGrad(() => act.layer.forward(x));
      layers.push(act.layer);
      for (const m of act.nodes) inSubgraph.add(m);
      cur = act.nodes[act.nodes.length - 1]!.output![0]!;
      i++;
      continue;
    }
    if (n.input?.[0] !== cur) {
      fail('E_ONNX_GRAPH', `node ${nodeName(n, idx)} (${n.opType}) reads ${q(n.input?.[0])} but the chain's current value is ${q(cur)}; Nabla imports a single chain of layers (no branches or skip connections)`);
    }
    const ctx: Ctx = { inits, node: n, idx, shape: [...x.shape], opset };
    const { layer, consumed } = layerFor(ctx, order[i + 1]);
    if (layer) {
      layer.eval();
      try {
        x = noGrad(() => layer.forward(x));
      } catch (e) {
        fail('E_ONNX_GRAPH', `node ${nodeName(n, idx)} (${n.opType}) cannot run on input ${fmt(ctx.shape)}: ${(e as Error).message}`);
      }
      layers.push(layer);
    }
    cur = order[i + consumed - 1]!.output![0]!;
    i += consumed;
  }
  if (cur !== outputName) fail('E_ONNX_GRAPH', `the chain ends in ${q(cur)} but the graph output is ${q(outputName)}`);

  const model = new Sequential(...layers);
  model.eval();
  // Nabla's own exports carry the input spec (normalisation included); others get one from the shape.
  const saved = parseJson(metaProp(m, 'nabla.input')) as InputSpec | undefined;
  const fits = saved && Array.isArray(saved.shape) && fmt(saved.shape) === fmt(sample) && (saved.kind === 'image' || saved.kind === 'tabular');
  const input: InputSpec = fits ? saved! : { shape: sample, kind: sample.length === 3 ? 'image' : 'tabular' };
  const outShape = x.shape;
  const nClasses = outShape[outShape.length - 1]!;
  const classes = parseJson(metaProp(m, 'nabla.classes'));
  const output = metaProp(m, 'nabla.output') === 'probability' ? 'probability' : 'logits';
  return {
    model,
    input,
    output,
    classes: Array.isArray(classes) && classes.every((c) => typeof c === 'string') ? classes : Array.from({ length: nClasses }, (_, i) => String(i)),
    opset,
    producer: `${m.producerName ?? ''} ${m.producerVersion ?? ''}`.trim(),
  };
}
