// A recurrent layer (RNN, LSTM, GRU) on its own → ONNX (opset ≥ 17): one ONNX RNN/LSTM/GRU node
// per layer, inputs [sequence, batch, inputSize] (or [batch, sequence, inputSize] for batchFirst),
// outputs "output" and the final state(s) "h_n" (and "c_n"), zero initial states, as the layer's
// forward(x) without hx computes them. Model files hold Tensor → Tensor layer chains, where a
// recurrent layer (which returns a tuple) cannot sit, so this is a library call beside exportOnnx.
// PyTorch's gate order is rearranged to ONNX's: LSTM i,f,g,o → i,o,f,c; GRU r,z,n → z,r,h (with
// linear_before_reset = 1, PyTorch's formula).

import { GRU, LSTM, RNN } from '../../nn/index.js';
import type { Tensor } from '../../tensor.js';
import { DEFAULT_OPSET } from './export.js';
import { OnnxError } from './errors.js';
import { AttrType, DataType, encodeModel, type OnnxAttribute, type OnnxModel, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './schema.js';

/** The G gate blocks of a [G·H, n] (or [G·H]) array, taken in `order`. */
function reorder(a: Float32Array, order: number[]): Float32Array {
  const block = a.length / order.length;
  const out = new Float32Array(a.length);
  order.forEach((src, dst) => out.set(a.subarray(src * block, (src + 1) * block), dst * block));
  return out;
}

function init(name: string, dims: number[], a: Float32Array): OnnxTensor {
  return { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice() };
}

function info(name: string, shape: (number | string)[]): OnnxValueInfo {
  return { name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

/** The ONNX file image of a recurrent layer (evaluation semantics: no inter-layer dropout). */
export function exportRnnOnnx(layer: RNN | LSTM | GRU, opts: { opset?: number; producerVersion?: string } = {}): Uint8Array {
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < 17 || opset > 21) throw new OnnxError('E_ONNX_OPSET', `opset ${opset} is not supported for export; expected an integer from 17 to 21`);
  const kind = layer instanceof LSTM ? 'LSTM' : layer instanceof GRU ? 'GRU' : layer instanceof RNN ? 'RNN' : null;
  if (!kind) throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', 'exportRnnOnnx exports an RNN, LSTM or GRU layer');
  const H = layer.hiddenSize, L = layer.numLayers;
  const order = kind === 'LSTM' ? [0, 3, 1, 2] : kind === 'GRU' ? [1, 0, 2] : [0];
  const G = order.length;
  const p = layer as unknown as Record<string, Tensor | undefined>;
  const nodes: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  const seqIn = 'input';
  let cur = seqIn;
  if (layer.batchFirst) {
    nodes.push({ name: '/transpose_in', opType: 'Transpose', input: [seqIn], output: ['/x_tbi'], attribute: [{ name: 'perm', type: AttrType.INTS, ints: [1, 0, 2] }] });
    cur = '/x_tbi';
  }
  inits.push({ name: '/axes1', dims: [1], dataType: DataType.INT64, rawData: new Uint8Array(new BigInt64Array([1n]).buffer) });
  const hOuts: string[] = [], cOuts: string[] = [];
  for (let l = 0; l < L; l++) {
    const f32 = (t: Tensor | undefined) => (t ? Float32Array.from(t.contiguous().toTypedArray() as Float32Array) : null);
    const w = f32(p[`weight_ih_l${l}`])!, r = f32(p[`weight_hh_l${l}`])!;
    const bi = f32(p[`bias_ih_l${l}`]), bh = f32(p[`bias_hh_l${l}`]);
    if (p[`weight_ih_l${l}`]!.dtype !== 'float32') throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `${kind} weights are ${p[`weight_ih_l${l}`]!.dtype}; ONNX export writes float32 models only`);
    const inSize = w.length / (G * H);
    inits.push(init(`${kind}.W_l${l}`, [1, G * H, inSize], reorder(w, order)), init(`${kind}.R_l${l}`, [1, G * H, H], reorder(r, order)));
    const inputs = [cur, `${kind}.W_l${l}`, `${kind}.R_l${l}`];
    if (bi && bh) {
      const b = new Float32Array(2 * G * H);
      b.set(reorder(bi, order), 0);
      b.set(reorder(bh, order), G * H);
      inits.push(init(`${kind}.B_l${l}`, [1, 2 * G * H], b));
      inputs.push(`${kind}.B_l${l}`);
    }
    const y = `/l${l}/Y`, yh = `/l${l}/Y_h`, yc = `/l${l}/Y_c`;
    const attribute: OnnxAttribute[] = [{ name: 'hidden_size', type: AttrType.INT, i: H }];
    if (kind === 'GRU') attribute.push({ name: 'linear_before_reset', type: AttrType.INT, i: 1 });
    if (kind === 'RNN') attribute.push({ name: 'activations', type: AttrType.STRINGS, strings: [new TextEncoder().encode((layer as RNN).nonlinearity === 'relu' ? 'Relu' : 'Tanh')] });
    nodes.push({ name: `/l${l}/${kind}`, opType: kind, input: inputs, output: kind === 'LSTM' ? [y, yh, yc] : [y, yh], attribute });
    // Y is [T, num_directions = 1, B, H]
    const next = l === L - 1 && !layer.batchFirst ? 'output' : `/l${l}/out`;
    nodes.push({ name: `/l${l}/squeeze`, opType: 'Squeeze', input: [y, '/axes1'], output: [next] });
    cur = next;
    hOuts.push(yh);
    if (kind === 'LSTM') cOuts.push(yc);
  }
  if (layer.batchFirst) nodes.push({ name: '/transpose_out', opType: 'Transpose', input: [cur], output: ['output'], attribute: [{ name: 'perm', type: AttrType.INTS, ints: [1, 0, 2] }] });
  nodes.push({ name: '/h_n', opType: 'Concat', input: hOuts, output: ['h_n'], attribute: [{ name: 'axis', type: AttrType.INT, i: 0 }] });
  if (kind === 'LSTM') nodes.push({ name: '/c_n', opType: 'Concat', input: cOuts, output: ['c_n'], attribute: [{ name: 'axis', type: AttrType.INT, i: 0 }] });
  const io = layer.batchFirst ? ['batch', 'sequence'] : ['sequence', 'batch'];
  const model: OnnxModel = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'nabla',
    producerVersion: opts.producerVersion ?? '',
    graph: {
      name: `nabla-${kind}`,
      node: nodes,
      initializer: inits,
      input: [info('input', [...io, layer.inputSize])],
      output: [info('output', [...io, H]), info('h_n', [L, 'batch', H]), ...(kind === 'LSTM' ? [info('c_n', [L, 'batch', H])] : [])],
    },
    metadataProps: [],
  };
  return encodeModel(model);
}
