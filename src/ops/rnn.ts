// One LSTM layer over a whole sequence as one op (PyTorch's CPU LSTM does the same): the input
// projection x·W_ihᵀ + b_ih of every time step is one linear (whose gradient gives dx, dW_ih and
// db_ih as single products), then the recurrence runs as one fused kernel each way where the
// backend has one (backend/rnn.ts: per step one product and one gate pass, dW_hh one product at
// the end). Elsewhere, and as its tested reference, the composite: the same equations unrolled
// over time with ops. Under create_graph the fused op's backward is composed of ops, so it
// differentiates again.
//
// The result is one tensor [T+1, B, H]: the hidden states h_1..h_T, then the last cell state c_T,
// so that gradients reaching h_n and c_n flow through one output (nn.LSTM splits it).

import { apply, isGradEnabled } from '../autograd.js';
import { DECLINE, fused } from '../dispatch.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { fmtShape, shapeEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import { add, mul, sigmoid, sub, tanh } from './elementwise.js';
import { linear } from './linear.js';
import { matmul } from './matmul.js';
import { cat, contiguous, narrow, reshape, select, stack, transpose } from './movement.js';
import { sum } from './reduce.js';
import { assertTensor, requireFloat } from './util.js';

const OP = 'lstmLayer';

function check(x: Tensor, h0: Tensor, c0: Tensor, wih: Tensor, whh: Tensor, bih: Tensor | null, bhh: Tensor | null): void {
  assertTensor(OP, x);
  assertTensor(OP, h0, 'h0');
  assertTensor(OP, c0, 'c0');
  assertTensor(OP, wih, 'weightIh');
  assertTensor(OP, whh, 'weightHh');
  if (bih !== null) assertTensor(OP, bih, 'biasIh');
  if (bhh !== null) assertTensor(OP, bhh, 'biasHh');
  requireFloat(OP, x);
  for (const [name, t] of [['h0', h0], ['c0', c0], ['weightIh', wih], ['weightHh', whh], ['biasIh', bih], ['biasHh', bhh]] as const) {
    if (t && t.dtype !== x.dtype) throw new DTypeError(`${OP}: ${name} dtype ${t.dtype} does not match the input's ${x.dtype}`);
  }
  if (x.ndim !== 3) throw new ShapeError(`${OP}: expected input [T, B, I], got shape ${fmtShape(x.shape)}`);
  const [T, B, I] = x.shape;
  if (T === 0) throw new ValueError(`${OP}: the input sequence is empty (shape ${fmtShape(x.shape)})`);
  if (whh.ndim !== 2 || whh.shape[0] !== 4 * whh.shape[1] || whh.shape[1] === 0) {
    throw new ShapeError(`${OP}: weightHh must have shape [4H, H], got ${fmtShape(whh.shape)}`);
  }
  const H = whh.shape[1];
  const want = (name: string, t: Tensor | null, shape: number[]) => {
    if (t && !shapeEqual(t.shape, shape)) throw new ShapeError(`${OP}: ${name} must have shape ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
  };
  want('weightIh', wih, [4 * H, I]);
  want('h0', h0, [B, H]);
  want('c0', c0, [B, H]);
  want('biasIh', bih, [4 * H]);
  want('biasHh', bhh, [4 * H]);
}

/**
 * One LSTM layer (gates i, f, g, o, PyTorch's equations) over input [T, B, I] from states h0, c0
 * [B, H], with weightIh [4H, I], weightHh [4H, H] and optional biases [4H] → [T+1, B, H]: h_1..h_T,
 * then c_T.
 */
export function lstmLayer(input: Tensor, h0: Tensor, c0: Tensor, weightIh: Tensor, weightHh: Tensor, biasIh?: Tensor | null, biasHh?: Tensor | null): Tensor {
  const bih = biasIh ?? null, bhh = biasHh ?? null;
  check(input, h0, c0, weightIh, weightHh, bih, bhh);
  const [T, B, I] = input.shape, G = weightIh.shape[0];
  const xp = reshape(linear(reshape(input, [T * B, I]), weightIh, bih), [T, B, G]);
  return fusedRecurrence(xp, h0, c0, weightHh, bhh) ?? compositeRecurrence(xp, h0, c0, weightHh, bhh);
}

/** The recurrence from the projected inputs xp [T, B, 4H], composed of ops (the reference). */
export function compositeRecurrence(xp: Tensor, h0: Tensor, c0: Tensor, whh: Tensor, bhh: Tensor | null): Tensor {
  const T = xp.shape[0], H = whh.shape[1];
  const whhT = transpose(whh, 0, 1);
  let h = h0, c = c0;
  const outs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    let g = add(select(xp, 0, t), matmul(h, whhT));
    if (bhh) g = add(g, bhh);
    const gate = (k: number) => narrow(g, 1, k * H, H);
    const i = sigmoid(gate(0)), f = sigmoid(gate(1)), gg = tanh(gate(2)), o = sigmoid(gate(3));
    c = add(mul(f, c), mul(i, gg));
    h = mul(o, tanh(c));
    outs.push(h);
  }
  outs.push(c);
  return stack(outs, 0);
}

/** The backend's fused recurrence, or null where it has none or declines. */
function fusedRecurrence(xp: Tensor, h0: Tensor, c0: Tensor, whh: Tensor, bhh: Tensor | null): Tensor | null {
  const [T, B] = xp.shape, H = whh.shape[1];
  if (B === 0) return null;
  const d = (t: Tensor) => contiguous(t.detach());
  const xpc = d(xp), h0c = d(h0), c0c = d(c0), whhc = d(whh), bhhc = bhh ? d(bhh) : null;
  const r = fused.lstmForward(xpc, h0c, c0c, whhc, bhhc);
  if (r === DECLINE) return null;
  const y = new Tensor(r.y, [T + 1, B, H]);
  const inputs = bhh ? [xp, h0, c0, whh, bhh] : [xp, h0, c0, whh];
  return apply('lstm', y, inputs, (g) => {
    let grads: (Tensor | null)[] | null = null;
    if (!isGradEnabled()) { // under create_graph the ops version, which differentiates again
      const want = { weight: whh.requiresGrad, bias: bhh?.requiresGrad ?? false };
      const b = fused.lstmBackward(contiguous(g), r.y, r, h0c, whhc, want);
      if (b !== DECLINE) {
        const as = (s: typeof b.dwhh, shape: readonly number[]) => (s ? new Tensor(s, shape) : null);
        grads = [as(b.dxp, xp.shape), as(b.dh0, h0.shape), as(b.dc0, c0.shape), as(b.dwhh, whh.shape), as(b.dbhh, [4 * H])];
      }
    }
    grads ??= compositeBackward(xp, h0, c0, whh, bhh, g);
    return bhh ? grads : grads.slice(0, 4);
  });
}

/** The recurrence's gradients composed of ops (differentiable again): [dxp, dh0, dc0, dwhh, dbhh]. */
function compositeBackward(xp: Tensor, h0: Tensor, c0: Tensor, whh: Tensor, bhh: Tensor | null, g: Tensor): (Tensor | null)[] {
  const [T, B, G] = xp.shape, H = whh.shape[1];
  const whhT = transpose(whh, 0, 1);
  const hs: Tensor[] = [h0], cs: Tensor[] = [c0];
  const acts: { i: Tensor; f: Tensor; gg: Tensor; o: Tensor; tc: Tensor }[] = [];
  for (let t = 0; t < T; t++) {
    let pre = add(select(xp, 0, t), matmul(hs[t], whhT));
    if (bhh) pre = add(pre, bhh);
    const gate = (k: number) => narrow(pre, 1, k * H, H);
    const i = sigmoid(gate(0)), f = sigmoid(gate(1)), gg = tanh(gate(2)), o = sigmoid(gate(3));
    const c = add(mul(f, cs[t]), mul(i, gg)), tc = tanh(c);
    acts.push({ i, f, gg, o, tc });
    cs.push(c);
    hs.push(mul(o, tc));
  }
  const dSig = (s: Tensor) => mul(s, sub(1, s));
  let dc = select(g, 0, T);
  let dh: Tensor | null = null;
  const dG: Tensor[] = new Array<Tensor>(T);
  for (let t = T - 1; t >= 0; t--) {
    const { i, f, gg, o, tc } = acts[t];
    const dht: Tensor = dh ? add(select(g, 0, t), dh) : select(g, 0, t);
    const dct = add(dc, mul(mul(dht, o), sub(1, mul(tc, tc))));
    const dGt = cat([mul(mul(dct, gg), dSig(i)), mul(mul(dct, cs[t]), dSig(f)), mul(mul(dct, i), sub(1, mul(gg, gg))), mul(mul(dht, tc), dSig(o))], 1);
    dG[t] = dGt;
    dc = mul(dct, f);
    dh = matmul(dGt, whh);
  }
  const dxp = stack(dG, 0);
  const rows = reshape(dxp, [T * B, G]);
  const dwhh = whh.requiresGrad ? matmul(transpose(rows, 0, 1), reshape(stack(hs.slice(0, T), 0), [T * B, H])) : null;
  const dbhh = bhh?.requiresGrad ? sum(rows, 0) : null;
  return [dxp, dh, dc, dwhh, dbhh];
}
