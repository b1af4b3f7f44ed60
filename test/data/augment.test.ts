// Image augmentation: identities, exact 90° rotation, whole-pixel shifts, crop/flip/scale,
// per-channel consistency, seeded determinism, noise statistics and input errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

const { data } = nb;

function randomImages(n: number, c: number, h: number, w: number, seed = 1): Tensor {
  return nb.rand([n, c, h, w], { generator: new nb.Generator(seed) });
}

/** Image i, channel k as rows of numbers. */
function plane(x: Tensor, i: number, k = 0): number[][] {
  return x.select(0, i).select(0, k).tolist() as number[][];
}

function maxDiff(a: Tensor, b: Tensor): number {
  const p = a.toTypedArray(), q = b.toTypedArray();
  assert.equal(p.length, q.length);
  let m = 0;
  for (let i = 0; i < p.length; i++) m = Math.max(m, Math.abs(p[i] - q[i]));
  return m;
}

test('rotation by 0, shift by 0, scale 1 are the identity', () => {
  const x = randomImages(3, 2, 28, 28);
  const g = new nb.Generator(0);
  assert.equal(maxDiff(data.randomRotation(0, { generator: g })(x), x), 0);
  assert.equal(maxDiff(data.randomShift(0, { generator: g })(x), x), 0);
  assert.equal(maxDiff(data.randomScale([1, 1], { generator: g })(x), x), 0);
  assert.equal(maxDiff(data.randomAffine({ generator: g })(x), x), 0);
  assert.equal(maxDiff(data.randomCrop(28, { generator: g })(x), x), 0);
  assert.equal(maxDiff(data.randomHorizontalFlip(0, { generator: g })(x), x), 0);
});

test('rotation by 90° turns a known image counter-clockwise exactly (np.rot90)', () => {
  for (const [h, w] of [[28, 28], [5, 5]]) {
    const x = randomImages(2, 1, h, w, 7);
    const y = data.randomRotation([90, 90], { generator: new nb.Generator(0) })(x);
    for (let i = 0; i < 2; i++) {
      const src = plane(x, i), out = plane(y, i);
      for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) assert.ok(Math.abs(out[r][c] - src[c][w - 1 - r]) < 1e-6, `(${r},${c})`);
    }
  }
  // A single bright pixel right of centre moves above it.
  const img = nb.zeros([1, 1, 5, 5]);
  img.data[2 * 5 + 4] = 1; // row 2, col 4
  const rot = plane(data.randomRotation([90, 90])(img), 0);
  assert.equal(rot[0][2], 1);
  assert.equal(rot.flat().reduce((s, v) => s + v, 0), 1);
});

test('shifts are whole pixels within the bound, zero filled', () => {
  const x = randomImages(6, 1, 10, 10, 3);
  const y = data.randomShift(3, { generator: new nb.Generator(5) })(x);
  for (let i = 0; i < 6; i++) {
    const src = plane(x, i), out = plane(y, i);
    let found = false;
    for (let dy = -3; dy <= 3 && !found; dy++) {
      for (let dx = -3; dx <= 3 && !found; dx++) {
        found = out.every((row, r) => row.every((v, c) => {
          const sr = r - dy, sc = c - dx;
          return v === (sr >= 0 && sr < 10 && sc >= 0 && sc < 10 ? src[sr][sc] : 0);
        }));
      }
    }
    assert.ok(found, `image ${i} is a whole-pixel shift of at most 3`);
  }
  // A fraction is relative to the size: 0.1 of 10 pixels → at most 1 pixel.
  const f = data.randomShift(0.1, { generator: new nb.Generator(1) })(x);
  assert.ok(f.shape.every((d, k) => d === x.shape[k]));
});

test('the same transform is applied to every channel of an image', () => {
  const a = randomImages(4, 1, 12, 12, 9);
  const x = nb.cat([a, a.mul(2)], 1);
  const y = data.randomAffine({ degrees: 30, translate: 0.2, scale: [0.8, 1.2], generator: new nb.Generator(2) })(x);
  assert.ok(maxDiff(y.slice(1, 1, 2), y.slice(1, 0, 1).mul(2)) < 1e-6);
});

test('seeded: same seed same batch, different seed different batch; non-contiguous input', () => {
  const x = randomImages(8, 1, 28, 28);
  const aug = (seed: number) => nb.data.compose(
    data.randomRotation(15, { generator: new nb.Generator(seed) }),
    data.randomShift(2, { generator: new nb.Generator(seed + 100) }),
  );
  assert.equal(maxDiff(aug(1)(x), aug(1)(x)), 0);
  assert.ok(maxDiff(aug(1)(x), aug(2)(x)) > 0.01);
  const view = x.slice(0, 2, 6);
  assert.equal(maxDiff(data.randomRotation(15, { generator: new nb.Generator(4) })(view), data.randomRotation(15, { generator: new nb.Generator(4) })(view.contiguous())), 0);
  const t = x.permute([0, 1, 3, 2]);
  assert.equal(maxDiff(data.randomShift(2, { generator: new nb.Generator(4) })(t), data.randomShift(2, { generator: new nb.Generator(4) })(t.contiguous())), 0);
});

test('scale: zooming in keeps a constant image, zooming out leaves zero borders', () => {
  const ones = nb.ones([1, 1, 28, 28]);
  assert.equal(maxDiff(data.randomScale([2, 2])(ones), ones), 0);
  const small = plane(data.randomScale([0.5, 0.5])(ones), 0);
  assert.equal(small[0][0], 0);
  assert.equal(small[14][14], 1);
});

test('randomCrop with padding and randomHorizontalFlip', () => {
  const x = randomImages(5, 1, 8, 8, 11);
  const y = data.randomCrop(8, { padding: 2, generator: new nb.Generator(3) })(x);
  assert.deepEqual(y.shape, [5, 1, 8, 8]);
  const z = data.randomCrop([4, 6], { generator: new nb.Generator(3) })(x);
  assert.deepEqual(z.shape, [5, 1, 4, 6]);
  // Each crop is a window of its source.
  for (let i = 0; i < 5; i++) {
    const src = plane(x, i), out = plane(z, i);
    let found = false;
    for (let oy = 0; oy <= 4 && !found; oy++) for (let ox = 0; ox <= 2 && !found; ox++) found = out.every((row, r) => row.every((v, c) => v === src[r + oy][c + ox]));
    assert.ok(found);
  }
  const f = data.randomHorizontalFlip(1)(x);
  assert.deepEqual(plane(f, 0), plane(x, 0).map((r) => [...r].reverse()));
  assert.throws(() => data.randomCrop(13, { padding: 2 })(x), { code: 'E_SHAPE' });
});

test('gaussianNoise: mean and std within tolerance, clipping', () => {
  const x = nb.zeros([16, 1, 32, 32]);
  const y = data.gaussianNoise(0.1, { generator: new nb.Generator(8) })(x);
  const v = y.toTypedArray();
  let s = 0, ss = 0;
  for (const a of v) { s += a; ss += a * a; }
  const mean = s / v.length, std = Math.sqrt(ss / v.length - mean * mean);
  assert.ok(Math.abs(mean) < 0.005, `mean ${mean}`);
  assert.ok(Math.abs(std - 0.1) < 0.003, `std ${std}`);
  const c = data.gaussianNoise(1, { clip: [0, 1], generator: new nb.Generator(8) })(x).toTypedArray();
  assert.ok(c.every((a) => a >= 0 && a <= 1));
});

test('errors name the expected layout', () => {
  assert.throws(() => data.randomRotation(10)(nb.zeros([4, 784])), (e: Error & { code?: string }) => e.code === 'E_SHAPE' && /\[N, C, H, W\]/.test(e.message));
  assert.throws(() => data.randomRotation(10)(nb.zeros([1, 1, 4, 4], { dtype: 'int32' })), { code: 'E_DTYPE' });
  assert.throws(() => data.randomScale([0, 1]), { code: 'E_VALUE' });
  assert.throws(() => data.randomHorizontalFlip(2), { code: 'E_VALUE' });
});

test('throughput: rotation+shift on MNIST-sized batches', () => {
  const x = randomImages(64, 1, 28, 28);
  const aff = data.randomAffine({ degrees: 10, translate: 2, generator: new nb.Generator(0) });
  const t0 = performance.now();
  for (let b = 0; b < 94; b++) aff(x); // ≈ 6,000 images
  const ms = performance.now() - t0;
  // A generous bound (a full 60k epoch takes well under a second on the dev machine).
  assert.ok(ms < 5000, `6k images took ${ms.toFixed(0)} ms`);
});
