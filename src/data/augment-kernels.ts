// Typed-array kernels behind the image augmentations. Augmentation runs on data, outside the
// autograd graph, and per image with its own parameters, which no primitive kernel expresses
// cheaply; so, like a backend kernel, this file sees only arrays and sizes, never tensors.

export type FloatArray = Float32Array | Float64Array;

/** Geometry of a batch [n, ch, h, w] stored contiguously from `offset`. */
export interface BatchGeometry {
  n: number;
  ch: number;
  h: number;
  w: number;
}

/**
 * Bilinear resampling with zero fill. `mats` holds 6 numbers per image, the INVERSE map from an
 * output pixel (u, v) to its source point: sx = m0·u + m1·v + m2, sy = m3·u + m4·v + m5 (pixel
 * centres at integer coordinates). Every channel of an image uses that image's map.
 */
export function affineResample(src: FloatArray, offset: number, g: BatchGeometry, mats: Float64Array, out: FloatArray): void {
  const { n, ch, h, w } = g;
  const plane = h * w;
  for (let i = 0; i < n; i++) {
    const m = i * 6;
    const a = mats[m], b = mats[m + 1], c = mats[m + 2], d = mats[m + 3], e = mats[m + 4], f = mats[m + 5];
    for (let k = 0; k < ch; k++) {
      const base = offset + (i * ch + k) * plane;
      const obase = (i * ch + k) * plane;
      for (let v = 0; v < h; v++) {
        let sx = b * v + c, sy = e * v + f;
        let o = obase + v * w;
        for (let u = 0; u < w; u++, o++, sx += a, sy += d) {
          // Entirely outside (including the one-pixel fringe that still blends in): zero.
          if (sx <= -1 || sy <= -1 || sx >= w || sy >= h) {
            out[o] = 0;
            continue;
          }
          const x0 = Math.floor(sx), y0 = Math.floor(sy);
          const fx = sx - x0, fy = sy - y0;
          const p = base + y0 * w + x0;
          if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
            const top = src[p] + fx * (src[p + 1] - src[p]);
            const bot = src[p + w] + fx * (src[p + w + 1] - src[p + w]);
            out[o] = top + fy * (bot - top);
          } else {
            // Border: each missing neighbour reads 0.
            const x1ok = x0 + 1 < w, y1ok = y0 + 1 < h, x0ok = x0 >= 0, y0ok = y0 >= 0;
            const v00 = x0ok && y0ok ? src[p] : 0;
            const v01 = x1ok && y0ok ? src[p + 1] : 0;
            const v10 = x0ok && y1ok ? src[p + w] : 0;
            const v11 = x1ok && y1ok ? src[p + w + 1] : 0;
            const top = v00 + fx * (v01 - v00);
            const bot = v10 + fx * (v11 - v10);
            out[o] = top + fy * (bot - top);
          }
        }
      }
    }
  }
}

/**
 * out[i, k, y, x] = src[i, k, y + oy[i], x + ox[i]], 0 where that falls outside the source
 * (a crop from the zero-padded image, with offsets relative to the unpadded origin).
 */
export function cropShift(src: FloatArray, offset: number, g: BatchGeometry, oy: Int32Array, ox: Int32Array, oh: number, ow: number, out: FloatArray): void {
  const { n, ch, h, w } = g;
  const plane = h * w, oplane = oh * ow;
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const dy = oy[i], dx = ox[i];
    const x0 = Math.max(0, -dx), x1 = Math.min(ow, w - dx);
    if (x1 <= x0) continue;
    for (let k = 0; k < ch; k++) {
      const base = offset + (i * ch + k) * plane;
      const obase = (i * ch + k) * oplane;
      for (let y = 0; y < oh; y++) {
        const sy = y + dy;
        if (sy < 0 || sy >= h) continue;
        const row = base + sy * w + dx;
        const orow = obase + y * ow;
        for (let x = x0; x < x1; x++) out[orow + x] = src[row + x];
      }
    }
  }
}

/** Mirror the images whose flag is set left–right; copy the others. */
export function flipHorizontal(src: FloatArray, offset: number, g: BatchGeometry, flags: Uint8Array, out: FloatArray): void {
  const { n, ch, h, w } = g;
  const img = ch * h * w;
  for (let i = 0; i < n; i++) {
    const base = offset + i * img, obase = i * img;
    if (!flags[i]) {
      out.set(src.subarray(base, base + img), obase);
      continue;
    }
    for (let r = 0; r < ch * h; r++) {
      const s = base + r * w, o = obase + r * w;
      for (let x = 0; x < w; x++) out[o + x] = src[s + w - 1 - x];
    }
  }
}

/**
 * out[i] = src[i] + mean + std·z, z standard normal by Marsaglia's polar method on 32-bit
 * uniforms from `nextUint32` (one log and one sqrt per pair, no trigonometry; ~21% of pairs are
 * rejected and redrawn), instead of one randn call per element.
 */
export function addGaussianNoise(src: FloatArray, offset: number, count: number, mean: number, std: number, nextUint32: () => number, out: FloatArray): void {
  const SCALE = 2 / 4294967296;
  for (let i = 0; i < count; i += 2) {
    let u: number, v: number, q: number;
    do {
      u = nextUint32() * SCALE - 1;
      v = nextUint32() * SCALE - 1;
      q = u * u + v * v;
    } while (q >= 1 || q === 0);
    const f = std * Math.sqrt((-2 * Math.log(q)) / q);
    out[i] = src[offset + i] + mean + u * f;
    if (i + 1 < count) out[i + 1] = src[offset + i + 1] + mean + v * f;
  }
}
