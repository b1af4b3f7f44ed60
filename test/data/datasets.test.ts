import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '../../src/data/readers/idx.js';
import { loadMnistBundled, loadMnist, loadPinnedSet, mulberry32, type PinnedSet } from '../../src/data/datasets/mnist.js';
import { loadFashionMnist, FASHION_MNIST_SYSTEM_DIR } from '../../src/data/datasets/fashion-mnist.js';
import { loadIdxDir } from '../../src/data/datasets/idx-dir.js';
import { DatasetError, type ImageSet } from '../../src/data/datasets/types.js';

const tmp = mkdtempSync(join(tmpdir(), 'nabla-datasets-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function classCounts(s: ImageSet): number[] {
  const c = new Array(10).fill(0);
  s.labels.forEach((l) => c[l]++);
  return c;
}

function imageKeys(s: ImageSet): string[] {
  const keys: string[] = [];
  for (let i = 0; i < s.count; i++) {
    keys.push(createHash('sha1').update(s.images.subarray(i * 784, (i + 1) * 784)).digest('hex'));
  }
  return keys;
}

test('bundled MNIST: 8000/2000, stratified, in [0,1], labels 0..9, loads fast', () => {
  const t0 = performance.now();
  const { train, test } = loadMnistBundled();
  const ms = performance.now() - t0;
  console.log(`bundled MNIST loaded in ${ms.toFixed(0)} ms`);
  assert.equal(train.count, 8000);
  assert.equal(test.count, 2000);
  for (const s of [train, test]) {
    assert.equal(s.rows, 28);
    assert.equal(s.cols, 28);
    assert.equal(s.images.length, s.count * 784);
    assert.equal(s.labels.length, s.count);
    assert.deepEqual(s.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of s.images) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    assert.equal(lo, 0);
    assert.equal(hi, 1);
    assert.ok(s.labels.every((l) => l >= 0 && l <= 9));
  }
  assert.deepEqual(classCounts(test), new Array(10).fill(200));
  // The package holds 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978 images of 0..9.
  assert.deepEqual(classCounts(train), [801, 927, 791, 832, 780, 663, 814, 870, 744, 778]);
  // Pixels are exact multiples of 1/255 (the original bytes restored).
  for (let i = 0; i < 5000; i++) {
    const v = train.images[i * 37]! * 255;
    assert.ok(Math.abs(v - Math.round(v)) < 1e-4);
  }
  // Classes are interleaved, not in blocks.
  assert.notEqual(new Set(Array.from(train.labels.subarray(0, 50))).size, 1);
});

test('bundled MNIST: deterministic per seed, disjoint train/test', () => {
  const a = loadMnistBundled({ seed: 7 });
  const b = loadMnistBundled({ seed: 7 });
  assert.deepEqual(a.train.labels, b.train.labels);
  assert.deepEqual(a.test.images, b.test.images);
  const c = loadMnistBundled({ seed: 8 });
  assert.notDeepEqual(a.test.labels, c.test.labels);
  // Train + test is the same multiset of images whatever the seed: a partition of the package.
  const union = [...imageKeys(a.train), ...imageKeys(a.test)].sort();
  const unionC = [...imageKeys(c.train), ...imageKeys(c.test)].sort();
  assert.equal(union.length, 10000);
  assert.deepEqual(union, unionC);
  assert.throws(() => loadMnistBundled({ seed: 1.5 }), { code: 'E_VALUE' });
});

test('mulberry32 is deterministic and uniform enough', () => {
  const r1 = mulberry32(42);
  const r2 = mulberry32(42);
  const xs = Array.from({ length: 10000 }, () => r1());
  assert.deepEqual(
    xs.slice(0, 5),
    Array.from({ length: 5 }, () => r2()),
  );
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});

function writeSet(dir: string, names: [string, string, string, string], n = [6, 4], gz = false): void {
  mkdirSync(dir, { recursive: true });
  const enc = (b: Uint8Array) => (gz ? gzipSync(b) : b);
  const img = (k: number) => encodeIdx('uint8', [k, 2, 3], Array.from({ length: k * 6 }, (_, i) => (i * 7) % 256));
  const lab = (k: number) => encodeIdx('uint8', [k], Array.from({ length: k }, (_, i) => i % 3));
  writeFileSync(join(dir, names[0]), enc(img(n[0]!)));
  writeFileSync(join(dir, names[1]), enc(lab(n[0]!)));
  writeFileSync(join(dir, names[2]), enc(img(n[1]!)));
  writeFileSync(join(dir, names[3]), enc(lab(n[1]!)));
}

test('loadIdxDir: standard, dotted and gzip names', () => {
  const a = join(tmp, 'std');
  writeSet(a, ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']);
  const r = loadIdxDir(a);
  assert.equal(r.train.count, 6);
  assert.equal(r.test.count, 4);
  assert.equal(r.train.rows, 2);
  assert.equal(r.train.cols, 3);
  assert.deepEqual(r.train.classes, ['0', '1', '2']);
  assert.equal(r.train.images[1], Math.fround(7 / 255));
  const b = join(tmp, 'kaggle');
  writeSet(b, ['train-images.idx3-ubyte.gz', 'train-labels.idx1-ubyte.gz', 'test-images.idx3-ubyte.gz', 'test-labels.idx1-ubyte.gz'], [5, 3], true);
  writeFileSync(join(b, 'classes.txt'), 'cat\ndog\nbird\n');
  const s = loadIdxDir(b);
  assert.equal(s.train.count, 5);
  assert.deepEqual(s.test.classes, ['cat', 'dog', 'bird']);
});

test('loadIdxDir: missing file and inconsistent counts → DatasetError', () => {
  const a = join(tmp, 'partial');
  writeSet(a, ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']);
  rmSync(join(a, 't10k-labels-idx1-ubyte'));
  assert.throws(() => loadIdxDir(a), (e: unknown) => e instanceof DatasetError && e.code === 'E_DATASET' && /no test labels file/.test(e.message));
  writeFileSync(join(a, 't10k-labels-idx1-ubyte'), encodeIdx('uint8', [3], [0, 1, 2]));
  assert.throws(() => loadIdxDir(a), /labels have shape \[3\]; expected \[4\]/);
  assert.throws(() => loadIdxDir(join(tmp, 'does-not-exist')), /cannot read dataset directory/);
});

test('pinned set: downloaded from a local mirror, verified, then served from the cache', async () => {
  const src = join(tmp, 'served');
  const names: [string, string, string, string] = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
  writeSet(src, names, [6, 4], true);
  const { readFileSync } = await import('node:fs');
  const pin = (name: string) => {
    const b = readFileSync(join(src, name));
    return { name, size: b.length, sha256: createHash('sha256').update(b).digest('hex') };
  };
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    const p = join(src, (req.url ?? '').replace(/^\/d\//, ''));
    if (!existsSync(p)) return res.writeHead(404).end();
    res.writeHead(200).end(readFileSync(p));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/d/`;
    const set: PinnedSet = { title: 'Tiny', trainImages: pin(names[0]), trainLabels: pin(names[1]), testImages: pin(names[2]), testLabels: pin(names[3]), classes: ['a', 'b', 'c'], mirrors: [base] };
    const cacheDir = join(tmp, 'cache-tiny');
    const r = await loadPinnedSet(set, { cacheDir, retryBaseMs: 5 });
    assert.equal(r.train.count, 6);
    assert.deepEqual(r.test.classes, ['a', 'b', 'c']);
    assert.equal(hits, 4);
    await loadPinnedSet(set, { cacheDir, offline: true });
    assert.equal(hits, 4, 'second load uses the cache');
    const bad = { ...set, trainLabels: { ...set.trainLabels, sha256: '0'.repeat(64) } };
    await assert.rejects(loadPinnedSet(bad, { cacheDir: join(tmp, 'cache-bad'), retryBaseMs: 5 }), { code: 'E_INTEGRITY' });
  } finally {
    server.close();
  }
});

test('full MNIST offline with an empty cache → E_OFFLINE naming all four files', async () => {
  await assert.rejects(loadMnist({ cacheDir: join(tmp, 'empty'), offline: true }), (e: unknown) => {
    const err = e as { code: string; message: string };
    assert.equal(err.code, 'E_OFFLINE');
    for (const f of ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) {
      assert.ok(err.message.includes(f), f);
    }
    assert.ok(err.message.includes('https://ossci-datasets.s3.amazonaws.com/mnist/'));
    assert.ok(err.message.includes(join(tmp, 'empty')));
    return true;
  });
});

test('Fashion-MNIST: a tampered local copy is rejected, not loaded', async () => {
  const fake = join(tmp, 'fake-fashion');
  mkdirSync(fake);
  writeFileSync(join(fake, 't10k-labels-idx1-ubyte.gz'), gzipSync(encodeIdx('uint8', [2], [1, 2])));
  await assert.rejects(loadFashionMnist({ systemDirs: [fake], cacheDir: join(tmp, 'empty2'), offline: true }), /Local copies rejected:[\s\S]*t10k-labels-idx1-ubyte\.gz: size is/);
});

const hasDebian = existsSync(join(FASHION_MNIST_SYSTEM_DIR, 'train-images-idx3-ubyte.gz'));
test('Fashion-MNIST from the Debian package: 60000/10000', { skip: hasDebian ? false : `${FASHION_MNIST_SYSTEM_DIR} not installed (apt install dataset-fashion-mnist)` }, async () => {
  const t0 = performance.now();
  const { train, test } = await loadFashionMnist({ cacheDir: join(tmp, 'empty3'), offline: true });
  const ms = performance.now() - t0;
  console.log(`Fashion-MNIST (60k + 10k) loaded and verified in ${ms.toFixed(0)} ms`);
  assert.equal(train.count, 60000);
  assert.equal(test.count, 10000);
  assert.equal(train.rows, 28);
  assert.equal(train.images.length, 60000 * 784);
  assert.deepEqual(classCounts(train), new Array(10).fill(6000));
  assert.deepEqual(classCounts(test), new Array(10).fill(1000));
  assert.equal(train.classes[9], 'Ankle boot');
});
