// Dynamic int8 quantisation of an LSTM, as torch.ao.quantization.quantize_dynamic does for nn.LSTM:
// W_ih and W_hh int8 (per output row, symmetric), and at run time each product's float input
// (the layer's whole input sequence for x·W_ihᵀ, the hidden state at each step for h·W_hhᵀ)
// quantised to uint8 over its own range; the gates, the cell state and the outputs stay float32.
// Inference only (no gradients). The products run on the int8 layer kernels (src/backend/wasm/qlayer.ts).
// quantizeDynamicLSTM(lstm) → QuantLSTM is the library call; inside a model (a text-lstm), the
// tree quantiser (quant-tree.ts) puts it behind an LSTM subclass, which `nabla compress` saves.

import { minMax, packQWeights, qEpilogue, qLinearJs, qLinearWasm, type PackedQWeights } from '../backend/wasm/qlayer.js';
import { wasmLstmPasses } from '../backend/wasm/rnn.js';
import { BackendError, ShapeError, ValueError } from '../errors.js';
import { LSTM } from '../nn/index.js';
import { fmtShape } from '../shape.js';
import { tensor, type Tensor } from '../tensor.js';
import { actQuantFromRange, quantizeWeights, type Kernel } from './quantized.js';

interface QMatrix {
  packed: PackedQWeights;
  sums: Int32Array;
  scales: Float32Array;
  bias: Float32Array | null;
}

function qmatrix(w: Tensor, bias: Tensor | null, codes?: { q: Int8Array; scales: Float32Array }): QMatrix {
  const rows = w.shape[0]!;
  const { q, scales } = codes ?? quantizeWeights(w.contiguous().toTypedArray() as Float32Array, rows);
  const inner = q.length / rows;
  const sums = new Int32Array(rows);
  for (let o = 0; o < rows; o++) for (let j = o * inner; j < (o + 1) * inner; j++) sums[o] += q[j]!;
  return { packed: packQWeights(q, rows, 8), sums, scales, bias: bias ? (bias.contiguous().toTypedArray() as Float32Array) : null };
}

export class QuantLSTM {
  kernel: Kernel = 'auto';
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly batchFirst: boolean;
  private readonly layers: { ih: QMatrix; hh: QMatrix }[] = [];

  /** `codes`: the int8 weights by name (weight_ih_lK, weight_hh_lK) when they were quantised
   *  before (a model file); otherwise quantised here from the source's float weights. */
  constructor(source: LSTM, codes?: ReadonlyMap<string, { q: Int8Array; scales: Float32Array }>) {
    this.inputSize = source.inputSize;
    this.hiddenSize = source.hiddenSize;
    this.numLayers = source.numLayers;
    this.batchFirst = source.batchFirst;
    const p = source as unknown as Record<string, Tensor | undefined>;
    for (let l = 0; l < this.numLayers; l++) {
      this.layers.push({
        ih: qmatrix(p[`weight_ih_l${l}`]!, p[`bias_ih_l${l}`] ?? null, codes?.get(`weight_ih_l${l}`)),
        hh: qmatrix(p[`weight_hh_l${l}`]!, p[`bias_hh_l${l}`] ?? null, codes?.get(`weight_hh_l${l}`)),
      });
    }
  }

  /** x (m rows) · Wᵀ + b through the int8 kernels, x quantised over its own range. */
  private product(x: Float32Array, m: number, w: QMatrix): Float32Array {
    const q = actQuantFromRange(...minMax(x, this.kernel === 'js' ? 'js' : 'wasm'));
    const args = { x, m, weights: w.packed, epilogue: qEpilogue(w.packed, w.sums, w.scales, w.bias, q.scale, q.zeroPoint), scale: q.scale, zeroPoint: q.zeroPoint, relu: false };
    if (this.kernel !== 'js') {
      const r = qLinearWasm(args) as Float32Array | null;
      if (r) return r;
      if (this.kernel === 'wasm') throw new BackendError('E_BACKEND_UNAVAILABLE', 'the wasm int8 kernels are not available (build the .wasm with `npm run build`)');
    }
    return qLinearJs(args) as Float32Array;
  }

  /** As LSTM.forward in eval mode: [output, [h_n, c_n]], with the same layouts. */
  forward(input: Tensor, hx?: readonly [Tensor, Tensor] | null): [Tensor, [Tensor, Tensor]] {
    const I = this.inputSize, H = this.hiddenSize, L = this.numLayers;
    if (input.dtype !== 'float32') throw new ValueError(`QuantLSTM: expected a float32 input, got ${input.dtype}`);
    if ((input.ndim !== 2 && input.ndim !== 3) || input.shape[input.ndim - 1] !== I) {
      throw new ShapeError(`QuantLSTM: expected a ${this.batchFirst ? '[B, T, I]' : '[T, B, I]'} or unbatched [T, I] input with I=${I}, got shape ${fmtShape(input.shape)}`);
    }
    const batched = input.ndim === 3;
    const tbi = batched ? (this.batchFirst ? input.transpose(0, 1) : input) : input.unsqueeze(1);
    const [T, B] = tbi.shape as [number, number];
    if (T === 0) throw new ValueError(`QuantLSTM: the input sequence is empty (shape ${fmtShape(input.shape)})`);
    const state = (s: Tensor | undefined, name: string): Float32Array => {
      if (!s) return new Float32Array(L * B * H);
      const want = batched ? [L, B, H] : [L, H];
      if (s.shape.length !== want.length || s.shape.some((d, i) => d !== want[i])) throw new ShapeError(`QuantLSTM: ${name} must have shape ${fmtShape(want)}, got ${fmtShape(s.shape)}`);
      return Float32Array.from(s.contiguous().toTypedArray() as Float32Array);
    };
    const h = state(hx?.[0], 'h_0'), c = state(hx?.[1], 'c_0');
    let seq = Float32Array.from(tbi.contiguous().toTypedArray() as Float32Array); // [T, B, in]
    for (let l = 0; l < L; l++) {
      const { ih, hh } = this.layers[l]!;
      const xp = this.product(seq, T * B, ih); // [T·B, 4H], b_ih included
      const out = new Float32Array(T * B * H);
      const hl = h.subarray(l * B * H, (l + 1) * B * H), cl = c.subarray(l * B * H, (l + 1) * B * H);
      const g = new Float32Array(B * 4 * H), tc = new Float32Array(B * H);
      for (let t = 0; t < T; t++) {
        const hp = this.product(hl, B, hh); // [B, 4H], b_hh included
        for (let k = 0, x0 = t * B * 4 * H; k < g.length; k++) g[k] = xp[x0 + k]! + hp[k]!;
        // the float LSTM's gate pass (SIMD where the wasm module loads, its js loops otherwise),
        // c and h updated in place; `kernel` chooses the products' kernels only
        wasmLstmPasses.forward(g, 0, null, 0, B, H, cl, 0, cl, 0, tc, 0, hl, 0);
        out.set(hl, t * B * H);
      }
      seq = out;
    }
    let output = tensor(seq, { shape: [T, B, H] });
    output = !batched ? output.squeeze(1) : this.batchFirst ? output.transpose(0, 1).contiguous() : output;
    const st = (s: Float32Array) => tensor(s, { shape: batched ? [L, B, H] : [L, H] });
    return [output, [st(h), st(c)]];
  }
}

/** torch.ao.quantization.quantize_dynamic for one nn.LSTM: int8 weights, uint8 activations per product. */
export function quantizeDynamicLSTM(lstm: LSTM): QuantLSTM {
  if (!(lstm instanceof LSTM)) throw new ValueError('quantizeDynamicLSTM: expected an LSTM');
  const w = (lstm as unknown as Record<string, Tensor>).weight_ih_l0!;
  if (w.dtype !== 'float32') throw new ValueError(`quantizeDynamicLSTM: the LSTM's weights are ${w.dtype}; int8 quantisation starts from float32`);
  return new QuantLSTM(lstm);
}
