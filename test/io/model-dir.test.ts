// Model directories against hostile files (issue 16, defects 10–13): a directory, FIFO or link to
// /dev/zero where a file should be, an architecture far larger than its weights, a huge legal
// header, non-finite weights. Each is a typed error, at once and in bounded memory.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { manualSeed, nn } from '../../src/index.js';
import { sha256 } from '../../src/io/atomic.js';
import { expectedStateShapes } from '../../src/io/arch-shapes.js';
import { loadModelDir, saveModelDir } from '../../src/io/model-dir.js';
import { serializeSafetensors, type RawTensor } from '../../src/io/safetensors.js';
import { tensor } from '../../src/tensor.js';
import { layerTypes } from '../../src/nn/describe.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-modeldir-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function small(dir: string): string {
  manualSeed(0);
  const model = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU(), new nn.Linear(3, 2));
  return saveModelDir(dir, model, { input: { shape: [4], kind: 'tabular' }, output: 'logits', classes: ['a', 'b'] });
}

/** Rewrite one file of a model directory and its manifest hash, as a careful forger would. */
function forge(dir: string, name: 'model.json' | 'model.safetensors', bytes: Uint8Array | string): void {
  writeFileSync(join(dir, name), bytes);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  manifest.files[name] = sha256(bytes);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? `untyped ${(e as Error).name}: ${(e as Error).message}`;
  }
  return 'no error';
}

describe('loadModelDir: what stands in place of a file (10)', () => {
  it('a directory, a FIFO or a link to /dev/zero as model.safetensors: E_MODEL_NOT_A_FILE, no hang', () => {
    withDir((root) => {
      const dir = small(join(root, 'm'));
      const w = join(dir, 'model.safetensors');
      unlinkSync(w);
      mkdirSync(w);
      assert.equal(code(() => loadModelDir(dir)), 'E_MODEL_NOT_A_FILE');
      rmSync(w, { recursive: true });
      symlinkSync('/dev/zero', w);
      assert.equal(code(() => loadModelDir(dir)), 'E_MODEL_NOT_A_FILE');
      unlinkSync(w);
      // a link to a good copy is refused too: links in a model directory are not followed
      const copy = join(root, 'copy.safetensors');
      writeFileSync(copy, readFileSync(join(small(join(root, 'n')), 'model.safetensors')));
      symlinkSync(copy, w);
      assert.match(String((() => { try { loadModelDir(dir); } catch (e) { return (e as Error).message; } })()), /symbolic link/);
      unlinkSync(w);
      if (process.platform !== 'win32') {
        assert.equal(spawnSync('mkfifo', [w]).status, 0);
        // opened non-blocking and refused by fstat: a blocking open would wait here for a writer
        assert.equal(code(() => loadModelDir(dir)), 'E_MODEL_NOT_A_FILE');
        unlinkSync(w);
      }
    });
  });

  it('model.json or manifest.json as a FIFO or directory: a typed error, no hang', () => {
    withDir((root) => {
      const dir = small(join(root, 'm'));
      unlinkSync(join(dir, 'model.json'));
      assert.equal(spawnSync('mkfifo', [join(dir, 'model.json')]).status, 0);
      assert.equal(code(() => loadModelDir(dir)), 'E_MODEL_NOT_A_FILE');
      unlinkSync(join(dir, 'manifest.json'));
      mkdirSync(join(dir, 'manifest.json'));
      assert.equal(code(() => loadModelDir(dir)), 'E_MODEL_NOT_A_FILE');
    });
  });
});

describe('loadModelDir: architecture against the weight header, before allocating (11)', () => {
  it('outFeatures 10,000,000 with small weights: E_ST_SHAPE_MISMATCH at once, no RangeError', () => {
    withDir((root) => {
      const dir = small(join(root, 'm'));
      const meta = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      for (const out of [10_000_000, 100_000]) {
        meta.architecture.layers[0].outFeatures = out;
        meta.architecture.layers[2].inFeatures = out;
        forge(dir, 'model.json', JSON.stringify(meta));
        const heap = process.memoryUsage().heapUsed;
        const ab = process.memoryUsage().arrayBuffers;
        let err: unknown;
        try {
          loadModelDir(dir);
        } catch (e) {
          err = e;
        }
        assert.equal((err as { code?: string }).code, 'E_ST_SHAPE_MISMATCH', String(err));
        assert.match((err as Error).message, new RegExp(`\\[${out},4\\]`));
        // the 10M-wide layer alone would be 160 MB of weights (and 31 GB, a RangeError, with 784
        // inputs): nothing of the sort was allocated
        assert.ok(process.memoryUsage().arrayBuffers - ab < 20_000_000, 'no weight-sized buffer was allocated');
        assert.ok(process.memoryUsage().heapUsed - heap < 50_000_000);
      }
    });
  });

  it('an int8 directory: its tensors are checked against model.json before the float model is built', () => {
    withDir((root) => {
      const dir = small(join(root, 'q'));
      const meta = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      meta.quantization = { format: 'nabla.int8', mode: 'dynamic', weights: 'per-channel symmetric int8', activations: 'dynamic', layers: [{ prefix: '0', type: 'Linear' }] };
      // hand-made weights for the small graph: layer 0 as int8 + scales, layer 2 in float
      const f32 = (shape: number[]): RawTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5) });
      const tensors = new Map<string, RawTensor>([
        ['0.weight', { dtype: 'int32' as const, shape: [3, 4], data: new Int32Array(12).fill(3) }],
        ['0.weight_scale', f32([3])],
        ['0.bias', f32([3])],
        ['2.weight', f32([2, 3])],
        ['2.bias', f32([2])],
      ]);
      forge(dir, 'model.safetensors', serializeSafetensors(tensors, { format: 'pt' }, { int8: ['0.weight'] }));
      forge(dir, 'model.json', JSON.stringify(meta));
      assert.deepEqual(loadModelDir(dir).model.forward(tensor(new Float32Array(4).fill(1), { shape: [1, 4] })).shape, [1, 2], 'the hand-made directory loads as it is');
      // 10,000,000 × 1000 floats (40 GB, a RangeError if built) and 100,000 × 100 (40 MB)
      for (const [out, inp] of [[10_000_000, 1000], [100_000, 100]] as const) {
        meta.architecture.layers[0].inFeatures = inp;
        meta.architecture.layers[0].outFeatures = out;
        meta.architecture.layers[2].inFeatures = out;
        forge(dir, 'model.json', JSON.stringify(meta));
        const ab = process.memoryUsage().arrayBuffers;
        let err: unknown;
        try {
          loadModelDir(dir);
        } catch (e) {
          err = e;
        }
        assert.equal((err as { code?: string }).code, 'E_ST_SHAPE_MISMATCH', String(err));
        assert.match((err as Error).message, new RegExp(`"0\\.weight": file has \\[3,4\\], model expects \\[${out},${inp}\\]`));
        assert.ok(process.memoryUsage().arrayBuffers - ab < 20_000_000, 'no float layer of that size was built');
      }
    });
  });

  it('the shape table matches what every layer type really holds', () => {
    const samples: Record<string, () => InstanceType<typeof nn.Module>> = {
      Linear: () => new nn.Linear(5, 3),
      Conv2d: () => new nn.Conv2d(4, 6, [3, 2], { groups: 2 }),
      BatchNorm1d: () => new nn.BatchNorm1d(7),
      BatchNorm2d: () => new nn.BatchNorm2d(3, { affine: false }),
      Embedding: () => new nn.Embedding(11, 4),
      RNN: () => new nn.RNN(3, 5, { numLayers: 2 }),
      LSTM: () => new nn.LSTM(3, 5, { bias: false }),
      GRU: () => new nn.GRU(2, 4, { numLayers: 2 }),
      Sequential: () => new nn.Sequential(new nn.Linear(2, 3, { bias: false }), new nn.ReLU(), new nn.Linear(3, 1)),
    };
    for (const type of layerTypes) {
      const make = samples[type];
      if (!make) continue; // layers without parameters
      const m = make();
      const got = expectedStateShapes(nn.describe(m));
      assert.ok(got, type);
      const want = new Map([...m.stateDict()].map(([k, t]) => [k, { shape: [...t.shape], dtype: t.dtype }]));
      assert.deepEqual(got, want, type);
    }
    // a layer type with state that the table does not know would make it answer undefined, not wrong
    assert.equal(expectedStateShapes({ type: 'Mystery', size: 3 }), undefined);
  });
});

describe('loadModelDir: a huge legal header (12)', () => {
  it('45 M numbers in __metadata__ are refused in bounded memory (a child with a 200 MB heap)', () => {
    // 20 M numbers (a 40 MB header) under --max-old-space-size=200: the parse tree the old reader
    // built (about 70 bytes a number) would need 1.4 GB and kill the child.
    const script = fileURLToPath(new URL('./huge-header.js', import.meta.url));
    const r = spawnSync(process.execPath, ['--max-old-space-size=200', script, '20000000'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^E_ST_BAD_METADATA /);
  });
});

describe('loadModelDir: non-finite weights, one policy (13)', () => {
  it('refused with E_ST_NON_FINITE unless allowNonFinite', () => {
    withDir((root) => {
      const dir = join(root, 'nan');
      // the writer refuses non-finite weights, so forge the file a foreign tool could have written
      const good = small(dir);
      const st = readFileSync(join(good, 'model.safetensors'));
      const bytes = new Uint8Array(st);
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString());
      const begin = header['0.weight'].data_offsets[0] as number;
      new DataView(bytes.buffer).setFloat32(8 + n + begin + 8, Number.POSITIVE_INFINITY, true);
      forge(dir, 'model.safetensors', bytes);
      assert.equal(code(() => loadModelDir(dir)), 'E_ST_NON_FINITE');
      const { model: loaded } = loadModelDir(dir, { allowNonFinite: true });
      assert.equal(loaded.stateDict().get('0.weight')!.toTypedArray()[2], Number.POSITIVE_INFINITY);
    });
  });
});

describe('loadModelDir: input.fit is a checked field', () => {
  it('a recorded fit loads as written; anything but digit|pad|stretch is E_MODEL_BAD_META', () => {
    withDir((root) => {
      manualSeed(0);
      const model = new nn.Sequential(new nn.Linear(784, 2));
      const dir = saveModelDir(join(root, 'f'), model, { input: { shape: [784], kind: 'image', fit: 'stretch' }, output: 'logits', classes: ['a', 'b'] });
      assert.equal(loadModelDir(dir).meta.input.fit, 'stretch');
      const meta = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
      for (const fit of ['squash', 3, null]) {
        meta.input.fit = fit;
        forge(dir, 'model.json', JSON.stringify(meta));
        assert.equal(code(() => loadModelDir(dir)), 'E_MODEL_BAD_META', String(fit));
      }
      delete meta.input.fit;
      forge(dir, 'model.json', JSON.stringify(meta));
      assert.equal(loadModelDir(dir).meta.input.fit, undefined);
    });
  });
});
