// Seeded image augmentation on batches [N, C, H, W] (torchvision's RandomRotation, RandomAffine,
// RandomCrop, RandomHorizontalFlip, plus Gaussian noise). Each image draws its own parameters
// from the given Generator, in image order, so a seed fixes the result; save generator.getState()
// with a checkpoint to resume augmentation exactly. Geometric transforms resample once per image
// (bilinear, zero fill) with the kernels in augment-kernels.ts; they are data preparation, so
// nothing here is recorded by autograd.

import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { isFloat, allocate } from '../dtype.js';
import { Generator, defaultGenerator } from '../random.js';
import { fmtShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { clamp } from '../ops/elementwise.js';
import { noGrad } from '../autograd.js';
import { addGaussianNoise, affineResample, cropShift, flipHorizontal, type BatchGeometry, type FloatArray } from './augment-kernels.js';

export type Augmentation = (x: Tensor) => Tensor;

export interface AugmentOptions {
  /** Source of randomness (default: the global generator, as torchvision uses torch's). */
  generator?: Generator;
}

/** The batch's storage, offset and geometry, after checking it is a float [N, C, H, W] batch. */
function batchOf(op: string, x: Tensor): { src: FloatArray; offset: number; g: BatchGeometry } {
  if (!(x instanceof Tensor)) throw new DTypeError(`${op}: input must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  if (x.ndim !== 4) {
    throw new ShapeError(`${op}: expected an image batch [N, C, H, W], got shape ${fmtShape(x.shape)}` +
      (x.ndim === 2 ? ' (augment before flattening, e.g. compose(aug, x => x.reshape([-1, 784])))' : ''));
  }
  if (!isFloat(x.dtype)) throw new DTypeError(`${op}: expected a float32 or float64 batch, got ${x.dtype}`);
  const [n, ch, h, w] = x.shape;
  const contiguous = x.isContiguous();
  return {
    src: (contiguous ? x.data : x.toTypedArray()) as FloatArray,
    offset: contiguous ? x.offset : 0,
    g: { n, ch, h, w },
  };
}

function uniform(g: Generator, lo: number, hi: number): number {
  return lo + (hi - lo) * g.random();
}

function range(op: string, name: string, v: number | readonly [number, number], symmetric: boolean): [number, number] {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new ValueError(`${op}: ${name} must be a non-negative number, got ${v}`);
    return symmetric ? [-v, v] : [v, v];
  }
  if (!Array.isArray(v) || v.length !== 2 || !v.every(Number.isFinite) || v[0] > v[1]) {
    throw new ValueError(`${op}: ${name} must be a number or a [min, max] pair with min ≤ max, got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1]];
}

// Values this close to an integer are snapped, so exact cases (0°, 90°, whole-pixel shifts)
// resample without floating-point blur.
function snap(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - r) < 1e-9 ? r : v;
}

export interface AffineOptions extends AugmentOptions {
  /** Rotation angle range in degrees; a number d means [−d, d]. Positive = counter-clockwise. */
  degrees?: number | readonly [number, number];
  /**
   * Largest shift per axis, [x, y] or one value for both: values below 1 are fractions of the
   * image size (torchvision's translate), 1 and above are pixels. Shifts are whole pixels.
   */
  translate?: number | readonly [number, number];
  /** Scale factor range [min, max] (1 = unchanged). */
  scale?: readonly [number, number];
}

/**
 * One random affine map per image (rotation about the centre, scale, whole-pixel shift), applied
 * in a single bilinear resampling — cheaper and less blurry than chaining the separate ones.
 */
export function randomAffine(opts: AffineOptions = {}): Augmentation {
  const op = 'randomAffine';
  const deg = range(op, 'degrees', opts.degrees ?? 0, true);
  const sc = range(op, 'scale', opts.scale ?? [1, 1], false);
  if (!(sc[0] > 0)) throw new ValueError(`${op}: scale must be positive, got [${sc.join(', ')}]`);
  const tr = opts.translate ?? 0;
  const [tX, tY] = typeof tr === 'number' ? [tr, tr] : tr;
  if (![tX, tY].every((t) => Number.isFinite(t) && t >= 0)) throw new ValueError(`${op}: translate must be non-negative, got ${JSON.stringify(tr)}`);
  const gen = opts.generator ?? defaultGenerator;
  return (x: Tensor) => {
    const { src, offset, g } = batchOf(op, x);
    const maxX = tX < 1 ? tX * g.w : tX, maxY = tY < 1 ? tY * g.h : tY;
    const cx = (g.w - 1) / 2, cy = (g.h - 1) / 2;
    const mats = new Float64Array(g.n * 6);
    for (let i = 0; i < g.n; i++) {
      const theta = (uniform(gen, deg[0], deg[1]) * Math.PI) / 180;
      const s = uniform(gen, sc[0], sc[1]);
      const tx = Math.round(uniform(gen, -maxX, maxX)), ty = Math.round(uniform(gen, -maxY, maxY));
      // Forward map p' = c + s·R(θ)(p − c) + t, with R counter-clockwise on screen (y down);
      // the kernel needs the inverse: p = c + R(−θ)(p' − c − t)/s.
      const cos = snap(Math.cos(theta)) / s, sin = snap(Math.sin(theta)) / s;
      const a = cos, b = -sin, d = sin, e = cos;
      const qx = cx + tx, qy = cy + ty;
      mats.set([snap(a), snap(b), snap(cx - a * qx - b * qy), snap(d), snap(e), snap(cy - d * qx - e * qy)], i * 6);
    }
    const out = allocate(x.dtype, x.numel()) as FloatArray;
    affineResample(src, offset, g, mats, out);
    return new Tensor(out, [...x.shape]);
  };
}

/** Rotate each image by an angle drawn uniformly from [−degrees, degrees] (or [min, max]). */
export function randomRotation(degrees: number | readonly [number, number], opts: AugmentOptions = {}): Augmentation {
  range('randomRotation', 'degrees', degrees, true);
  return randomAffine({ degrees, generator: opts.generator });
}

/** Shift each image by whole pixels, up to maxShift per axis (below 1: a fraction of the size). */
export function randomShift(maxShift: number | readonly [number, number], opts: AugmentOptions = {}): Augmentation {
  return randomAffine({ translate: maxShift, generator: opts.generator });
}

/** Zoom each image about its centre by a factor drawn from [min, max]. */
export function randomScale(scale: readonly [number, number], opts: AugmentOptions = {}): Augmentation {
  return randomAffine({ scale, generator: opts.generator });
}

export interface CropOptions extends AugmentOptions {
  /** Zero padding added on every side before cropping (torchvision's padding). */
  padding?: number;
}

/** A random size×size window of each (zero-padded) image; size is a number or [h, w]. */
export function randomCrop(size: number | readonly [number, number], opts: CropOptions = {}): Augmentation {
  const op = 'randomCrop';
  const [oh, ow] = typeof size === 'number' ? [size, size] : size;
  const pad = opts.padding ?? 0;
  if (![oh, ow].every((v) => Number.isInteger(v) && v > 0)) throw new ValueError(`${op}: size must be positive integers, got ${JSON.stringify(size)}`);
  if (!Number.isInteger(pad) || pad < 0) throw new ValueError(`${op}: padding must be a non-negative integer, got ${pad}`);
  const gen = opts.generator ?? defaultGenerator;
  return (x: Tensor) => {
    const { src, offset, g } = batchOf(op, x);
    if (oh > g.h + 2 * pad || ow > g.w + 2 * pad) {
      throw new ShapeError(`${op}: crop ${oh}×${ow} is larger than the padded image ${g.h + 2 * pad}×${g.w + 2 * pad} (input ${fmtShape(x.shape)}, padding ${pad})`);
    }
    const oy = new Int32Array(g.n), ox = new Int32Array(g.n);
    for (let i = 0; i < g.n; i++) {
      oy[i] = gen.int(g.h + 2 * pad - oh + 1) - pad;
      ox[i] = gen.int(g.w + 2 * pad - ow + 1) - pad;
    }
    const out = allocate(x.dtype, g.n * g.ch * oh * ow) as FloatArray;
    cropShift(src, offset, g, oy, ox, oh, ow, out);
    return new Tensor(out, [g.n, g.ch, oh, ow]);
  };
}

/** Mirror each image left–right with probability p. */
export function randomHorizontalFlip(p = 0.5, opts: AugmentOptions = {}): Augmentation {
  if (!(p >= 0 && p <= 1)) throw new ValueError(`randomHorizontalFlip: p must be in [0, 1], got ${p}`);
  const gen = opts.generator ?? defaultGenerator;
  return (x: Tensor) => {
    const { src, offset, g } = batchOf('randomHorizontalFlip', x);
    const flags = new Uint8Array(g.n);
    for (let i = 0; i < g.n; i++) flags[i] = gen.random() < p ? 1 : 0;
    const out = allocate(x.dtype, x.numel()) as FloatArray;
    flipHorizontal(src, offset, g, flags, out);
    return new Tensor(out, [...x.shape]);
  };
}

export interface NoiseOptions extends AugmentOptions {
  mean?: number;
  /** Clamp the result, e.g. [0, 1] to stay a valid image. */
  clip?: readonly [number, number];
}

/** x + N(mean, std²) noise, elementwise. Works on any float tensor, not only image batches. */
export function gaussianNoise(std: number, opts: NoiseOptions = {}): Augmentation {
  if (!Number.isFinite(std) || std < 0) throw new ValueError(`gaussianNoise: std must be a non-negative number, got ${std}`);
  const mean = opts.mean ?? 0;
  const gen = opts.generator ?? defaultGenerator;
  if (opts.clip && !(opts.clip[0] <= opts.clip[1])) throw new ValueError(`gaussianNoise: clip must be [lo, hi] with lo ≤ hi, got ${JSON.stringify(opts.clip)}`);
  return (x: Tensor) => {
    if (!(x instanceof Tensor)) throw new DTypeError(`gaussianNoise: input must be a Tensor, got ${x === null ? 'null' : typeof x}`);
    if (!isFloat(x.dtype)) throw new DTypeError(`gaussianNoise: expected a float32 or float64 tensor, got ${x.dtype}`);
    const contiguous = x.isContiguous();
    const src = (contiguous ? x.data : x.toTypedArray()) as FloatArray;
    const out = allocate(x.dtype, x.numel()) as FloatArray;
    addGaussianNoise(src, contiguous ? x.offset : 0, out.length, mean, std, () => gen.nextUint32(), out);
    const noisy = new Tensor(out, [...x.shape]);
    return opts.clip ? noGrad(() => clamp(noisy, opts.clip![0], opts.clip![1])) : noisy;
  };
}
