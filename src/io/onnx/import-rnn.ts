// ONNX → a recurrent layer (RNN, LSTM, GRU): the inverse of exportRnnOnnx, and the reader of what
// torch.onnx.export writes for a torch nn.RNN/LSTM/GRU. The graph holds one ONNX RNN/LSTM/GRU node
// per layer, chained input → [Transpose] → node → Squeeze(axis 1) → node … → [Transpose] → output;
// h_n/c_n are the nodes' Y_h/Y_c (concatenated on axis 0 when stacked). Initial states must be
// absent or zeros (torch writes ConstantOfShape(0) sliced per layer). Shape bookkeeping nodes
// (Shape, Gather, Constant, ...) that only feed those zeros are not evaluated. ONNX's gate order is
// put back in PyTorch's: LSTM i,o,f,c → i,f,g,o; GRU z,r,h → r,z,n. Anything Nabla's layers cannot
// compute (bidirectional, peepholes, other activations, clip, layout 1, linear_before_reset 0) is
// refused in one line naming the node and attribute.

import { noGrad } from '../../autograd.js';
import { GRU, LSTM, RNN } from '../../nn/index.js';
import { tensor, type Tensor } from '../../tensor.js';
import { OnnxError, type OnnxErrorCode } from './errors.js';
import { decodeOrFail, decodeTensor, MAX_IMPORT_OPSET, MIN_IMPORT_OPSET, type Init } from './import.js';
import type { OnnxAttribute, OnnxNode } from './schema.js';

const q = JSON.stringify;
const fail = (code: OnnxErrorCode, msg: string): never => {
  throw new OnnxError(code, msg);
};
const RECURRENT = ['RNN', 'LSTM', 'GRU'] as const;
type Kind = (typeof RECURRENT)[number];
const GATES: Record<Kind, number> = { RNN: 1, LSTM: 4, GRU: 3 };
/** ONNX block j comes from PyTorch block ORDER[j] on export; import inverts it. */
const ORDER: Record<Kind, number[]> = { RNN: [0], LSTM: [0, 3, 1, 2], GRU: [1, 0, 2] };
const DEFAULT_ACTS: Record<Kind, string[][]> = { RNN: [['Tanh'], ['Relu']], LSTM: [['Sigmoid', 'Tanh', 'Tanh']], GRU: [['Sigmoid', 'Tanh']] };

/** PyTorch-order copy of an ONNX-order [G·H, n] (or [G·H]) block array. */
function unorder(a: Float32Array, order: number[]): Float32Array {
  const block = a.length / order.length;
  const out = new Float32Array(a.length);
  order.forEach((src, dst) => out.set(a.subarray(dst * block, (dst + 1) * block), src * block));
  return out;
}

const attrMap = (n: OnnxNode) => new Map<string, OnnxAttribute>((n.attribute ?? []).map((a) => [a.name ?? '', a]));
const strs = (a: OnnxAttribute) => (a.strings ?? []).map((s) => new TextDecoder().decode(s));

/** Decodes an ONNX file image holding one (possibly stacked) recurrent layer into a Nabla RNN, LSTM or GRU. */
export function importRnnOnnx(bytes: Uint8Array): RNN | LSTM | GRU {
  const m = decodeOrFail(bytes);
  const g = m.graph;
  if (!g || !g.node?.length) return fail('E_ONNX_PARSE', 'the file decodes but holds no ONNX graph nodes; expected a ModelProto with a graph');
  const opset = Number(m.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? NaN);
  if (!Number.isInteger(opset) || opset < MIN_IMPORT_OPSET || opset > MAX_IMPORT_OPSET) {
    fail('E_ONNX_OPSET', `the model imports opset ${Number.isNaN(opset) ? 'none' : opset} of the default domain; Nabla imports opsets ${MIN_IMPORT_OPSET} to ${MAX_IMPORT_OPSET}`);
  }
  const nodes = g.node;
  const producer = new Map<string, OnnxNode>();
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of nodes) {
    for (const o of n.output ?? []) if (o) producer.set(o, n);
    for (const i of n.input ?? []) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  const initByName = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const graphInputs = (g.input ?? []).map((v) => v.name ?? '').filter((n) => !initByName.has(n));
  if (graphInputs.length !== 1) fail('E_ONNX_GRAPH', `the graph has ${graphInputs.length} inputs (${graphInputs.map((s) => q(s)).join(', ')}); expected one sequence input`);
  const inputName = graphInputs[0]!;

  /** A constant tensor by value name: an initializer or a Constant node's value; undefined if computed. */
  const constant = (name: string, what: string): Init | undefined => {
    const t = initByName.get(name);
    if (t) return decodeTensor(t, what);
    const p = producer.get(name);
    if (p?.opType === 'Constant') {
      const v = attrMap(p).get('value');
      if (v?.t) return decodeTensor(v.t, what);
    }
    return undefined;
  };
  /** Whether a value is all zeros: a zero constant, ConstantOfShape(0), or a slice/reshape of one. */
  const isZeros = (name: string, depth = 0): boolean => {
    const c = constant(name, `value ${q(name)}`);
    if (c) return Array.from(c.data).every((v) => v === 0 && !Object.is(v, -0));
    const p = producer.get(name);
    if (!p || depth > 16) return false;
    if (p.opType === 'ConstantOfShape') {
      const v = attrMap(p).get('value')?.t;
      return !v || Array.from(decodeTensor(v, `ConstantOfShape ${q(p.name)} value`).data).every((x) => x === 0 && !Object.is(x, -0));
    }
    if (['Slice', 'Squeeze', 'Unsqueeze', 'Reshape', 'Identity', 'Expand', 'Transpose'].includes(p.opType ?? '')) return isZeros(p.input![0]!, depth + 1);
    return false;
  };
  const perm102 = (n: OnnxNode) => {
    const p = attrMap(n).get('perm')?.ints?.map(Number);
    return p !== undefined && p.length === 3 && p[0] === 1 && p[1] === 0 && p[2] === 2;
  };
  /** A Squeeze of axis 1 only (axes as an input from opset 13, as an attribute before). */
  const squeezesAxis1 = (n: OnnxNode): boolean => {
    const axes = n.input?.[1] ? constant(n.input[1], `Squeeze ${q(n.name)} axes`)?.data : attrMap(n).get('axes')?.ints;
    return axes !== undefined && axes.length === 1 && Number(axes[0]) === 1;
  };

  const rec = nodes.filter((n) => (RECURRENT as readonly string[]).includes(n.opType ?? ''));
  if (rec.length === 0) fail('E_ONNX_GRAPH', `the graph holds no RNN, LSTM or GRU node; importRnnOnnx imports one recurrent layer (use importOnnx for layer chains)`);
  const kind = rec[0]!.opType as Kind;
  for (const n of rec) if (n.opType !== kind) fail('E_ONNX_GRAPH', `the graph mixes ${kind} and ${n.opType} nodes (${q(n.name)}); Nabla's layers stack one kind`);

  // Walk the chain from the graph input.
  let cur = inputName;
  let batchFirst = false;
  const first = consumers.get(inputName) ?? [];
  const tIn = first.find((n) => n.opType === 'Transpose');
  if (!first.some((n) => n.opType === kind) && tIn) {
    if (!perm102(tIn)) fail('E_ONNX_GRAPH', `node ${q(tIn.name)} transposes the input with perm ${q(attrMap(tIn).get('perm')?.ints)}; expected [1,0,2] (batch-first input)`);
    batchFirst = true;
    cur = tIn.output![0]!;
  }
  const chain: OnnxNode[] = [];
  for (;;) {
    const next = (consumers.get(cur) ?? []).find((n) => n.opType === kind && n.input?.[0] === cur);
    if (!next) break;
    chain.push(next);
    const y = next.output?.[0] ?? '';
    const sq = (consumers.get(y) ?? []).filter((n) => n.opType === 'Squeeze');
    if (!y || sq.length !== 1 || !squeezesAxis1(sq[0]!)) {
      cur = y;
      break;
    }
    cur = sq[0]!.output![0]!;
  }
  if (chain.length !== rec.length) {
    const stray = rec.find((n) => !chain.includes(n))!;
    fail('E_ONNX_GRAPH', `${kind} node ${q(stray.name)} is not on the chain input → ${kind} → Squeeze(axes [1]) → … from graph input ${q(inputName)}; expected one stack of ${kind} nodes`);
  }
  // The sequence output: the last Squeeze's output, transposed back when the input was.
  let outName = cur;
  const tOut = (consumers.get(cur) ?? []).find((n) => n.opType === 'Transpose');
  if (tOut && perm102(tOut)) outName = tOut.output![0]!;
  const graphOutputs = (g.output ?? []).map((v) => v.name ?? '');
  if (!graphOutputs.includes(outName)) fail('E_ONNX_GRAPH', `the last ${kind} node's sequence output Y does not reach a graph output through Squeeze(axes [1])${batchFirst ? ' and Transpose [1,0,2]' : ''}; expected the graph output to be the layer's output`);
  if ((outName !== cur) !== batchFirst) fail('E_ONNX_GRAPH', `layout mismatch: the input is ${batchFirst ? '' : 'not '}transposed to [sequence, batch, features] but the output is ${batchFirst ? 'not ' : ''}transposed back; expected both or neither`);
  // Other graph outputs: the final states, as they are or concatenated over the layers.
  const states = (j: number) => chain.map((n) => n.output?.[j] ?? '');
  for (const o of graphOutputs) {
    if (o === outName) continue;
    const p = producer.get(o);
    const ok = [1, 2].some((j) => {
      const s = states(j);
      if (s.some((x) => !x)) return false;
      if (s.length === 1 && s[0] === o) return true;
      return p?.opType === 'Concat' && Number(attrMap(p).get('axis')?.i ?? 0) === 0 && p.input?.length === s.length && p.input.every((x, k) => x === s[k]);
    });
    if (!ok) fail('E_ONNX_GRAPH', `graph output ${q(o)} is neither the sequence output nor the layers' final states (Y_h/Y_c, concatenated on axis 0); importRnnOnnx imports a lone recurrent layer`);
  }

  // Per-node checks and weights.
  const G = GATES[kind];
  let H = 0, inputSize = 0;
  let nonlinearity: 'tanh' | 'relu' = 'tanh';
  const layers: { w: Float32Array; r: Float32Array; b: Float32Array | null }[] = [];
  chain.forEach((n, l) => {
    const nm = `${kind} node ${q(n.name ?? `#${l}`)}`;
    const a = attrMap(n);
    for (const [k, v] of a) {
      if (k === 'hidden_size') continue;
      if (k === 'direction') {
        const d = new TextDecoder().decode(v.s ?? new Uint8Array());
        if (d !== 'forward') fail('E_ONNX_UNSUPPORTED_OP', `${nm} has direction ${q(d)}; Nabla's ${kind} runs forward only (no bidirectional or reverse layers)`);
      } else if (k === 'activations') {
        const acts = strs(v);
        const okActs = DEFAULT_ACTS[kind].find((d) => d.length === acts.length && d.every((x, i) => x === acts[i]));
        if (!okActs) fail('E_ONNX_UNSUPPORTED_OP', `${nm} has activations ${q(acts)}; expected ${DEFAULT_ACTS[kind].map((d) => q(d)).join(' or ')}`);
        if (kind === 'RNN') {
          const nl = acts[0] === 'Relu' ? 'relu' : 'tanh';
          if (l > 0 && nl !== nonlinearity) fail('E_ONNX_UNSUPPORTED_OP', `${nm} has activations ${q(acts)} but the layer below uses ${nonlinearity}; Nabla's RNN uses one nonlinearity for all layers`);
          nonlinearity = nl;
        }
      } else if (k === 'activation_alpha' || k === 'activation_beta' || k === 'clip') {
        fail('E_ONNX_UNSUPPORTED_OP', `${nm} has attribute ${q(k)}; Nabla's ${kind} has no ${k === 'clip' ? 'cell clipping' : 'activation parameters'}`);
      } else if (k === 'layout') {
        if (Number(v.i ?? 0) !== 0) fail('E_ONNX_UNSUPPORTED_OP', `${nm} has layout ${v.i}; expected 0 ([sequence, batch, ...]; batch-first models transpose around the node)`);
      } else if (k === 'linear_before_reset' && kind === 'GRU') {
        if (Number(v.i ?? 0) !== 1) fail('E_ONNX_UNSUPPORTED_OP', `${nm} has linear_before_reset ${v.i ?? 0}; Nabla's GRU (PyTorch's formula) needs 1`);
      } else if (k === 'input_forget' && kind === 'LSTM') {
        if (Number(v.i ?? 0) !== 0) fail('E_ONNX_UNSUPPORTED_OP', `${nm} has input_forget ${v.i}; Nabla's LSTM has no coupled input-forget gate`);
      } else {
        fail('E_ONNX_UNSUPPORTED_OP', `${nm} has attribute ${q(k)}, which Nabla's ${kind} cannot represent`);
      }
    }
    if (kind === 'GRU' && !a.has('linear_before_reset')) fail('E_ONNX_UNSUPPORTED_OP', `${nm} has linear_before_reset 0 (the default); Nabla's GRU (PyTorch's formula) needs 1`);
    if (kind === 'RNN' && !a.has('activations') && l > 0 && nonlinearity !== 'tanh') fail('E_ONNX_UNSUPPORTED_OP', `${nm} uses Tanh but the layer below uses relu; Nabla's RNN uses one nonlinearity for all layers`);
    const inp = n.input ?? [];
    if (inp[4]) fail('E_ONNX_UNSUPPORTED_OP', `${nm} has a sequence_lens input ${q(inp[4])}; Nabla's ${kind} runs full-length sequences`);
    if (kind === 'LSTM' && inp[7]) fail('E_ONNX_UNSUPPORTED_OP', `${nm} has a peephole input P ${q(inp[7])}; Nabla's LSTM has no peepholes`);
    for (const [j, s] of [[5, 'initial_h'], [6, 'initial_c']] as const) {
      if (inp[j] && !isZeros(inp[j]!)) fail('E_ONNX_UNSUPPORTED_OP', `${nm} has a non-zero (or computed) ${s} ${q(inp[j])}; expected zero initial states (pass states to forward instead)`);
    }
    const hs = a.get('hidden_size');
    const weight = (j: number, what: string) => {
      const name = inp[j];
      if (!name) return null;
      const c = constant(name, `${nm} ${what} ${q(name)}`);
      if (!c) return fail('E_ONNX_INITIALIZER', `${nm} input ${what} ${q(name)} is computed, not an initializer or Constant; expected a constant weight`);
      if (!c.isFloat) fail('E_ONNX_INITIALIZER', `${nm} input ${what} ${q(name)} is not a float tensor`);
      return c;
    };
    const W = weight(1, 'W'), R = weight(2, 'R'), B = weight(3, 'B');
    if (!W || !R) return fail('E_ONNX_GRAPH', `${nm} lacks its W or R input`);
    if (R.dims.length !== 3 || R.dims[0] !== 1 || R.dims[1]! % G !== 0 || R.dims[2]! * G !== R.dims[1]) {
      fail('E_ONNX_INITIALIZER', `${nm} R has dims [${R.dims.join(',')}]; expected [1, ${G}·hidden_size, hidden_size]`);
    }
    const h = R.dims[2]!;
    if (hs === undefined || Number(hs.i) !== h) fail('E_ONNX_INITIALIZER', `${nm} has hidden_size ${hs?.i ?? 'unset'} but R has dims [${R.dims.join(',')}]; expected hidden_size ${h}`);
    if (l > 0 && h !== H) fail('E_ONNX_INITIALIZER', `${nm} has hidden_size ${h} but the layer below has ${H}; Nabla's stacked layers share one hidden size`);
    H = h;
    const inSize = W.dims[2] ?? 0;
    if (W.dims.length !== 3 || W.dims[0] !== 1 || W.dims[1] !== G * H || inSize < 1 || (l > 0 && inSize !== H)) {
      fail('E_ONNX_INITIALIZER', `${nm} W has dims [${W.dims.join(',')}]; expected [1, ${G * H}, ${l > 0 ? H : 'input_size'}]`);
    }
    if (l === 0) inputSize = inSize;
    if (B && (B.dims.length !== 2 || B.dims[0] !== 1 || B.dims[1] !== 2 * G * H)) fail('E_ONNX_INITIALIZER', `${nm} B has dims [${B.dims.join(',')}]; expected [1, ${2 * G * H}]`);
    layers.push({ w: W.data as Float32Array, r: R.data as Float32Array, b: B ? (B.data as Float32Array) : null });
  });

  const bias = layers.some((x) => x.b);
  const opts = { numLayers: layers.length, bias, batchFirst };
  const layer = kind === 'LSTM' ? new LSTM(inputSize, H, opts) : kind === 'GRU' ? new GRU(inputSize, H, opts) : new RNN(inputSize, H, { ...opts, nonlinearity });
  const sd: Record<string, Tensor> = {};
  const order = ORDER[kind];
  layers.forEach(({ w, r, b }, l) => {
    sd[`weight_ih_l${l}`] = tensor(unorder(w, order), { shape: [G * H, l === 0 ? inputSize : H] });
    sd[`weight_hh_l${l}`] = tensor(unorder(r, order), { shape: [G * H, H] });
    if (bias) {
      // a missing B is zeros in ONNX
      const bb = b ?? new Float32Array(2 * G * H);
      sd[`bias_ih_l${l}`] = tensor(unorder(bb.slice(0, G * H), order), { shape: [G * H] });
      sd[`bias_hh_l${l}`] = tensor(unorder(bb.slice(G * H), order), { shape: [G * H] });
    }
  });
  noGrad(() => layer.loadStateDict(sd));
  layer.eval();
  return layer;
}
