// Window kernels: im2col and its adjoint col2im, and max pooling with its backward. Neither
// adjoint uses atomics: col2im gathers (one invocation per input pixel sums the taps that reach
// it) and the pooling backward gives each (n, c) plane to one invocation. Both are deterministic
// and add in the reference's order, so float32 results equal the js backend's bit for bit.

import { convOutSize, type Conv2dGeometry } from '../backend.js';
import { ValueError } from '../../errors.js';
import { Params, groups1d, type GpuArray, type GpuContext, type GpuView } from './context.js';
import { copy } from './elementwise.js';
import { main1d, storage, wgslType } from './wgsl.js';

function check4(x: GpuView, what: string): void {
  if (x.shape.length !== 4) throw new ValueError(`webgpu ${what}: expected an [N, C, H, W] view, got shape [${x.shape}]`);
}

/** Geometry words: kh kw sh sw ph pw dh dw, then N C H W OH OW (word indices from `at`). */
function pushGeometry(p: Params, g: Conv2dGeometry, shape: readonly number[]): { OH: number; OW: number; at: number } {
  const [, , H, W] = shape;
  const OH = convOutSize(H, g.kernel[0], g.stride[0], g.padding[0], g.dilation[0]);
  const OW = convOutSize(W, g.kernel[1], g.stride[1], g.padding[1], g.dilation[1]);
  if (OH < 0 || OW < 0) throw new ValueError(`webgpu: window ${g.kernel} does not fit input [${shape}] with padding ${g.padding}`);
  const at = p.words.length;
  for (const v of [...g.kernel, ...g.stride, ...g.padding, ...g.dilation]) p.i(v);
  for (const v of [...shape, OH, OW]) p.i(v);
  return { OH, OW, at };
}

/** WGSL `let` names for the geometry words pushed at `at`. */
function geometryLets(at: number): string {
  const names = ['kh', 'kw', 'sh', 'sw', 'ph', 'pw_', 'dh', 'dw', 'N', 'C', 'H', 'W', 'OH', 'OW'];
  return names.map((n, k) => `  let ${n} = pi(${at + k}u);`).join('\n') + '\n';
}

/** x [N,C,H,W] → columns [N, C·kh·kw, OH·OW], or [C·kh·kw, N, OH·OW] when batchInner. */
export function im2col(ctx: GpuContext, x: GpuView, g: Conv2dGeometry, padValue: number, batchInner = false): GpuArray {
  check4(x, 'im2col');
  const p = new Params();
  const nAt = p.u(0);
  const geo = pushGeometry(p, g, x.shape);
  const [N, C] = x.shape;
  const L = geo.OH * geo.OW, R = C * g.kernel[0] * g.kernel[1];
  const n = N * R * L;
  p.words[nAt] = n;
  const out = ctx.alloc(x.dtype, n);
  if (n === 0) return out;
  const offAt = p.i(x.offset);
  const sAt = p.words.length;
  for (const s of x.strides) p.i(s);
  const padAt = x.dtype === 'float32' ? p.f(padValue) : p.i(padValue);
  const T = wgslType(x.dtype);
  const code = storage(1, 'x', T, false) + storage(2, 'out', T, true) + main1d(nAt, `${geometryLets(geo.at)}
  let L = u32(OH * OW);
  let R = u32(C * kh * kw);
  let l = i32(i % L);
  let rest = i / L;
  ${batchInner ? `let n = i32(rest % u32(N)); let r = i32(rest / u32(N));` : `let r = i32(rest % R); let n = i32(rest / R);`}
  let c = r / (kh * kw);
  let ki = (r / kw) % kh;
  let kj = r % kw;
  let h = (l / OW) * sh - ph + ki * dh;
  let w = (l % OW) * sw - pw_ + kj * dw;
  if (h < 0 || h >= H || w < 0 || w >= W) { out[i] = ${x.dtype === 'float32' ? 'pf' : 'pi'}(${padAt}u); return; }
  out[i] = x[pi(${offAt}u) + n * pi(${sAt}u) + c * pi(${sAt + 1}u) + h * pi(${sAt + 2}u) + w * pi(${sAt + 3}u)];`);
  ctx.dispatch(`im2col${batchInner ? '-bi' : ''}`, code, p, [x.buffer, out.buffer], groups1d(n));
  return out;
}

/** Adjoint of im2col: columns (either layout) → [N,C,H,W], overlapping taps summed in (i, j) order. */
export function col2im(ctx: GpuContext, cols: GpuView, g: Conv2dGeometry, inputShape: readonly [number, number, number, number], batchInner = false): GpuArray {
  const p = new Params();
  const nAt = p.u(0);
  const geo = pushGeometry(p, g, inputShape);
  const n = inputShape[0] * inputShape[1] * inputShape[2] * inputShape[3];
  p.words[nAt] = n;
  const out = ctx.alloc(cols.dtype, n);
  if (n === 0) return out;
  // Columns are read flat: a strided view is made contiguous first.
  const flat = isContiguous(cols) ? null : copy(ctx, cols);
  const src = flat ? flat.view() : cols;
  const offAt = p.i(src.offset);
  const T = wgslType(cols.dtype);
  const zero = cols.dtype === 'float32' ? '0.0' : '0';
  const code = storage(1, 'cols', T, false) + storage(2, 'out', T, true) + main1d(nAt, `${geometryLets(geo.at)}
  let L = OH * OW;
  let R = C * kh * kw;
  let w = i32(i % u32(W));
  let h = i32((i / u32(W)) % u32(H));
  let c = i32((i / u32(W * H)) % u32(C));
  let n = i32(i / u32(W * H * C));
  var acc: ${T} = ${zero};
  for (var ki = 0; ki < kh; ki++) {
    let hn = h + ph - ki * dh;
    if (hn < 0 || hn % sh != 0 || hn / sh >= OH) { continue; }
    for (var kj = 0; kj < kw; kj++) {
      let wn = w + pw_ - kj * dw;
      if (wn < 0 || wn % sw != 0 || wn / sw >= OW) { continue; }
      let r = (c * kh + ki) * kw + kj;
      let row = ${batchInner ? 'r * N + n' : 'n * R + r'};
      acc = acc + cols[pi(${offAt}u) + row * L + (hn / sh) * OW + wn / sw];
    }
  }
  out[i] = acc;`);
  ctx.dispatch(`col2im${batchInner ? '-bi' : ''}`, code, p, [src.buffer, out.buffer], groups1d(n));
  flat?.release();
  return out;
}

function isContiguous(v: GpuView): boolean {
  for (let d = v.shape.length - 1, acc = 1; d >= 0; d--) {
    if (v.shape[d] !== 1 && v.strides[d] !== acc) return false;
    acc *= v.shape[d];
  }
  return true;
}

/** Max pooling of x [N,C,H,W]: maxima [N,C,OH,OW] and each one's first argmax h·W + w (NaN wins). */
export function maxPool2d(ctx: GpuContext, x: GpuView, g: Conv2dGeometry): { out: GpuArray; argmax: GpuArray } {
  check4(x, 'maxPool2d');
  if (x.dtype !== 'float32') throw new ValueError(`webgpu maxPool2d: expected float32, got ${x.dtype}`);
  const p = new Params();
  const nAt = p.u(0);
  const geo = pushGeometry(p, g, x.shape);
  const n = x.shape[0] * x.shape[1] * geo.OH * geo.OW;
  p.words[nAt] = n;
  const out = ctx.alloc('float32', n);
  const argmax = ctx.alloc('int32', n);
  if (n === 0) return { out, argmax };
  const offAt = p.i(x.offset);
  const sAt = p.words.length;
  for (const s of x.strides) p.i(s);
  const code = storage(1, 'x', 'f32', false) + storage(2, 'out', 'f32', true) + storage(3, 'arg', 'i32', true) + main1d(nAt, `${geometryLets(geo.at)}
  let ow = i32(i % u32(OW));
  let oh = i32((i / u32(OW)) % u32(OH));
  let plane = i32(i / u32(OW * OH));
  let c = plane % C;
  let n = plane / C;
  let base = pi(${offAt}u) + n * pi(${sAt}u) + c * pi(${sAt + 1}u);
  var best = -fInf();
  var bi = -1;
  for (var ki = 0; ki < kh; ki++) {
    let h = oh * sh - ph + ki * dh;
    if (h < 0 || h >= H) { continue; }
    for (var kj = 0; kj < kw; kj++) {
      let w = ow * sw - pw_ + kj * dw;
      if (w < 0 || w >= W) { continue; }
      let v = x[base + h * pi(${sAt + 2}u) + w * pi(${sAt + 3}u)];
      if (bi < 0 || v > best || (isNan(v) && !isNan(best))) { best = v; bi = h * W + w; }
    }
  }
  out[i] = best;
  arg[i] = bi;`);
  ctx.dispatch('maxPool2d', code, p, [x.buffer, out.buffer, argmax.buffer], groups1d(n));
  return { out, argmax };
}

/**
 * maxPool2d's adjoint: zeros of inputShape with each grad [N,C,OH,OW] element (any strides) added
 * at its plane's argmax (int32 [N,C,OH,OW], any strides). One invocation per (n, c) plane walks
 * the plane's windows in row-major order, the reference's order, so sums match it bit for bit
 * and no two invocations write the same pixel.
 */
export function maxPool2dBackward(ctx: GpuContext, grad: GpuView, argmax: GpuView, inputShape: readonly [number, number, number, number]): GpuArray {
  check4(grad, 'maxPool2dBackward');
  if (argmax.dtype !== 'int32' || argmax.shape.length !== 4) throw new ValueError('webgpu maxPool2dBackward: argmax must be an int32 [N, C, OH, OW] view');
  const [N, C, H, W] = inputShape;
  const [, , OH, OW] = grad.shape;
  const out = ctx.zeros(grad.dtype, N * C * H * W);
  const planes = N * C;
  if (planes === 0 || OH * OW === 0) return out;
  const p = new Params();
  const nAt = p.u(planes);
  for (const v of [C, H * W, OH, OW]) p.i(v);
  const gAt = p.words.length;
  p.i(grad.offset);
  for (const s of grad.strides) p.i(s);
  const aAt = p.words.length;
  p.i(argmax.offset);
  for (const s of argmax.strides) p.i(s);
  const view = (at: number) => `pi(${at}u) + n * pi(${at + 1}u) + c * pi(${at + 2}u) + oh * pi(${at + 3}u) + ow * pi(${at + 4}u)`;
  const code = storage(1, 'grad', 'f32', false) + storage(2, 'arg', 'i32', false) + storage(3, 'out', 'f32', true) + main1d(nAt, `
  let C = pi(${nAt + 1}u); let HW = pi(${nAt + 2}u); let OH = pi(${nAt + 3}u); let OW = pi(${nAt + 4}u);
  let c = i32(i) % C;
  let n = i32(i) / C;
  let plane = i32(i) * HW;
  for (var oh = 0; oh < OH; oh++) {
    for (var ow = 0; ow < OW; ow++) {
      let a = arg[${view(aAt)}];
      if (a >= 0 && a < HW) { out[plane + a] = out[plane + a] + grad[${view(gAt)}]; }
    }
  }`);
  ctx.dispatch('maxPool2dBackward', code, p, [grad.buffer, argmax.buffer, out.buffer], groups1d(planes));
  return out;
}
