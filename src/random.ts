// Seeded random numbers. A Generator is xoshiro128** (fast, 128-bit state, good statistics);
// its state can be saved and restored exactly, which exact resume from a checkpoint needs.

import { allocateUnfilled, type DType, type TypedArray } from './dtype.js';
import { ValueError } from './errors.js';
import { checkShape, numel } from './shape.js';
import { Tensor, type TensorOptions } from './tensor.js';

export interface GeneratorState {
  s: [number, number, number, number];
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Generator {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  manualSeed(seed: number): this {
    if (!Number.isFinite(seed)) throw new ValueError(`manualSeed: seed must be a finite number, got ${seed}`);
    // Mix both 32-bit halves so seeds beyond 2^32 still differ.
    const hi = Math.floor(seed / 2 ** 32);
    const sm = splitmix32((seed >>> 0) ^ Math.imul(hi, 0x27d4eb2d));
    for (let i = 0; i < 4; i++) this.s[i] = sm();
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
    this.spare = null;
    return this;
  }

  /** Next uniform 32-bit integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Fills `out` from consecutive random() draws u: out[i] = a + b·u, or with `bernoulli`,
   * out[i] = u < a ? 1 : 0. The same values and final state as calling random() per element,
   * with the state kept in locals rather than on the object (rand and bernoulli draw many at once).
   */
  fillRandom(out: TypedArray, a: number, b: number, bernoulli: boolean): void {
    const st = this.s;
    // int32 bit patterns throughout; storing them back into the Uint32Array keeps the bits.
    let s0 = st[0] | 0, s1 = st[1] | 0, s2 = st[2] | 0, s3 = st[3] | 0;
    for (let i = 0; i < out.length; i++) {
      let x = Math.imul(s1, 5);
      const hi = Math.imul((x << 7) | (x >>> 25), 9) >>> 5;
      let t = s1 << 9;
      s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
      x = Math.imul(s1, 5);
      const lo = Math.imul((x << 7) | (x >>> 25), 9) >>> 6;
      t = s1 << 9;
      s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
      const u = (hi * 67108864 + lo) / 9007199254740992;
      out[i] = bernoulli ? (u < a ? 1 : 0) : a + b * u;
    }
    st[0] = s0; st[1] = s1; st[2] = s2; st[3] = s3;
  }

  /** Standard normal (Box–Muller, the second value kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  getState(): GeneratorState {
    return { s: [this.s[0], this.s[1], this.s[2], this.s[3]], spare: this.spare };
  }

  setState(st: GeneratorState): this {
    if (!st || !Array.isArray(st.s) || st.s.length !== 4 || !st.s.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)) {
      throw new ValueError('Generator.setState: expected {s: four uint32 numbers, spare: number|null}');
    }
    this.s.set(st.s);
    this.spare = st.spare ?? null;
    return this;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The default generator, used when none is passed (torch.default_generator). */
export const defaultGenerator = new Generator(0);

/** torch.manual_seed. */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}

export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

function fill(op: string, shape: readonly number[], opts: RandomOptions, f: (g: Generator, data: TypedArray) => void): Tensor {
  const s = checkShape(op, shape);
  const g = opts.generator ?? defaultGenerator;
  const dtype: DType = opts.dtype ?? 'float32';
  // Every filler writes every element.
  const data = allocateUnfilled(dtype, numel(s));
  f(g, data);
  const t = new Tensor(data, s);
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}

/** Uniform in [low, high). */
export function rand(shape: readonly number[], opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const lo = opts.low ?? 0, hi = opts.high ?? 1;
  return fill('rand', shape, opts, (g, d) => g.fillRandom(d, lo, hi - lo, false));
}

/** Normal with the given mean and std. */
export function randn(shape: readonly number[], opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const m = opts.mean ?? 0, sd = opts.std ?? 1;
  return fill('randn', shape, opts, (g, d) => {
    for (let i = 0; i < d.length; i++) d[i] = m + sd * g.normal();
  });
}

/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  if (!(high > low)) throw new ValueError(`randint: expected low < high, got low=${low}, high=${high}`);
  return fill('randint', shape, { dtype: 'int32', ...opts }, (g, d) => {
    for (let i = 0; i < d.length; i++) d[i] = low + g.int(high - low);
  });
}

/** 1 with probability p, else 0. */
export function bernoulli(shape: readonly number[], p: number, opts: RandomOptions = {}): Tensor {
  if (!(p >= 0 && p <= 1)) throw new ValueError(`bernoulli: p must be in [0, 1], got ${p}`);
  return fill('bernoulli', shape, opts, (g, d) => g.fillRandom(d, p, 0, true));
}

/**
 * Dropout's inverted mask: each element is 0 (dropped, probability p) or 1/(1 − p). Counter-based,
 * so a mask costs two generator draws whatever its size (a per-element draw was most of an mlp
 * step's non-GEMM time): the draws give an odd multiplier k and an offset c, element i hashes
 * fmix32(i·k + c) (MurmurHash3's finaliser, every input bit reaching every output bit) and is kept
 * when its top 31 bits are at least round(p·2³¹), so the keep rate is 1 − p to within 2⁻³¹. A different
 * multiplier per mask keeps two masks from being shifted copies of one hash sequence. Same
 * generator state → same mask, and the generator's state stays exactly resumable.
 */
export function dropoutMask(shape: readonly number[], p: number, opts: RandomOptions = {}): Tensor {
  if (!(p >= 0 && p <= 1)) throw new ValueError(`dropoutMask: p must be in [0, 1], got ${p}`);
  return fill('dropoutMask', shape, opts, (g, d) => {
    const k = g.nextUint32() | 1, c = g.nextUint32() | 0;
    // The top 31 bits against round(p·2³¹): a signed difference of two non-negative int31 values
    // cannot overflow, so its sign bit is the "dropped" flag, with no branch (a data-dependent
    // branch mispredicts on half the elements, which cost more than the hashing).
    const thr = Math.round(p * 2 ** 31), scale = p < 1 ? 1 / (1 - p) : 0;
    for (let i = 0; i < d.length; i++) {
      let h = (Math.imul(i, k) + c) | 0;
      h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
      h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
      h ^= h >>> 16;
      d[i] = scale * (1 - (((h >>> 1) - thr) >>> 31));
    }
  });
}

/** A random permutation of 0..n-1 (Fisher–Yates), as int32. */
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  if (!Number.isInteger(n) || n < 0) throw new ValueError(`randperm: n must be a non-negative integer, got ${n}`);
  const g = opts.generator ?? defaultGenerator;
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = g.int(i + 1);
    const t = data[i];
    data[i] = data[j];
    data[j] = t;
  }
  return new Tensor(data, [n]);
}
