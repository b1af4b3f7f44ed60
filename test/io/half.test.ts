// float16 / bfloat16 in safetensors files: exact widening on load (every bit pattern, against
// PyTorch), rounding on write identical to PyTorch's .half() / .bfloat16(), the strict reader's
// checks on half tensors, a PyTorch `model.half()` state dict loaded into a Nabla model, and
// `nabla train --weights-dtype`. Fixtures: scripts/make_half_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeHalf, encodeHalf, f16ToF32, f32BitsToBf16, f32BitsToF16 } from '../../src/io/half.js';
import { SafetensorsError, parseSafetensors, serializeSafetensors, type RawTensor } from '../../src/io/safetensors.js';
import { loadModelDir, saveModelDir } from '../../src/io/model-dir.js';
import { sha256 } from '../../src/io/atomic.js';
import { Linear, ReLU, Sequential, describe } from '../../src/nn/index.js';
import { manualSeed, noGrad, tensor, type Tensor } from '../../src/index.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/safetensors/', import.meta.url));
const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, name)));
const load = (name: string): Map<string, RawTensor> => parseSafetensors(fixture(name)).tensors;
const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, what);
  const g = bits(got);
  const w = bits(want);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) assert.fail(`${what}[${i}]: got 0x${g[i]!.toString(16)} (${got[i]}), PyTorch 0x${w[i]!.toString(16)} (${want[i]})`);
  }
}

test('every float16 and bfloat16 bit pattern widens exactly as PyTorch widens it', () => {
  const f16 = load('half-f16.safetensors').get('all')!;
  const bf16 = load('half-bf16.safetensors').get('all')!;
  const want = load('half-all-f32.safetensors');
  assert.equal(f16.dtype, 'float32');
  assert.deepEqual(f16.shape, [65536]);
  assert.deepEqual(bf16.shape, [256, 256]);
  sameBits(f16.data as Float32Array, want.get('f16')!.data as Float32Array, 'f16');
  sameBits(bf16.data as Float32Array, want.get('bf16')!.data as Float32Array, 'bf16');
});

test('special values: ±0, subnormals, ±Inf, NaN', () => {
  assert.ok(Object.is(f16ToF32(0x8000), -0));
  assert.ok(Object.is(f16ToF32(0x0000), 0));
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24);
  assert.equal(f16ToF32(0x0400), 2 ** -14);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  const out = decodeHalf('F16', new Uint8Array([0x01, 0x7d]), new Float32Array(1)); // signalling NaN payload 0x101
  assert.equal(bits(out)[0], 0x7fe02000, 'NaN payload kept, made quiet (as PyTorch)');
  assert.throws(() => decodeHalf('BF16', new Uint8Array(4), new Float32Array(3)), RangeError);
});

test('narrowing rounds to nearest even exactly as PyTorch .half() and .bfloat16()', () => {
  const t = load('half-values.safetensors');
  const src = t.get('src')!.data as Float32Array;
  const s = bits(src);
  for (const [name, narrow] of [['f16_bits', f32BitsToF16], ['bf16_bits', f32BitsToBf16]] as const) {
    const want = t.get(name)!.data as Int32Array;
    for (let i = 0; i < src.length; i++) {
      const got = narrow(s[i]!);
      // NaN: PyTorch's scalar and vectorised paths choose different quiet NaNs; any NaN is right.
      if (Number.isNaN(src[i]!)) {
        assert.ok((got & 0x7fff) > (name === 'f16_bits' ? 0x7c00 : 0x7f80), `${name} NaN`);
        continue;
      }
      if (got !== want[i]) assert.fail(`${name}[${i}] of ${src[i]}: got 0x${got.toString(16)}, PyTorch 0x${want[i]!.toString(16)}`);
    }
  }
  // And reading PyTorch's half tensors back gives PyTorch's own widening of them.
  sameBits(load('half-f16.safetensors').get('h')!.data as Float32Array, t.get('f16_f32')!.data as Float32Array, 'h');
  sameBits(load('half-bf16.safetensors').get('b')!.data as Float32Array, t.get('bf16_f32')!.data as Float32Array, 'b');
});

test('the writer reproduces the PyTorch-made files byte for byte', () => {
  const want = load('half-values.safetensors');
  for (const [file, name, wd] of [['half-f16.safetensors', 'h', 'f16'], ['half-bf16.safetensors', 'b', 'bf16']] as const) {
    const golden = fixture(file);
    const parsed = parseSafetensors(golden).tensors;
    // re-narrow PyTorch's float32 source (not the widened copy) together with the 'all' patterns
    // The f16 writer refuses finite values beyond its range (tested below); PyTorch made them Inf.
    const src = { ...want.get('src')!, data: (want.get('src')!.data as Float32Array).map((v) => (wd === 'f16' && Math.abs(v) >= 65520 ? Math.sign(v) * Infinity : v)) };
    const input = new Map<string, RawTensor>([
      [name, { dtype: 'float32', shape: parsed.get(name)!.shape, data: src.data }],
      ['all', parsed.get('all')!],
    ]);
    const bytes = serializeSafetensors(input, undefined, { weightsDtype: wd });
    assert.equal(bytes.length, golden.length);
    // A NaN is written as one quiet NaN (PyTorch picks its pattern per code path), so NaN payloads
    // are not kept: compare every byte outside NaNs, and check those are NaNs.
    // Both tensors are 16-bit, so 'all' (65536 × 2 bytes) comes first by name, then the source.
    const header = 8 + Number(new DataView(golden.buffer, golden.byteOffset).getBigUint64(0, true));
    const nanBytes = new Set<number>();
    const markNaNs = (a: ArrayLike<number>, at: number) => {
      for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i])) nanBytes.add(at + 2 * i).add(at + 2 * i + 1);
    };
    markNaNs(parsed.get('all')!.data, header);
    markNaNs(src.data, header + 131072);
    assert.ok(nanBytes.size >= 2 * 254, `${file}: the NaN patterns were found`);
    const back = parseSafetensors(bytes).tensors;
    for (const n of ['all', name]) {
      const a = back.get(n)!.data;
      const b = input.get(n)!.data;
      for (let i = 0; i < a.length; i++) if (Number.isNaN(b[i])) assert.ok(Number.isNaN(a[i]), `${n}[${i}] stays NaN`);
    }
    const diffs: number[] = [];
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== golden[i]) diffs.push(i);
    assert.deepEqual(diffs.filter((i) => !nanBytes.has(i)), [], `${file}: bytes differ outside the NaN`);
  }
});

test('f16 writing refuses values beyond ±65504 instead of turning them into Inf', () => {
  const big: RawTensor = { dtype: 'float32', shape: [3], data: new Float32Array([1, -70000, 2]) };
  assert.throws(
    () => serializeSafetensors({ w: big }, undefined, { weightsDtype: 'f16' }),
    (e: unknown) => e instanceof SafetensorsError && e.code === 'E_ST_BAD_INPUT' && /-70000.*index 1.*bf16/.test(e.message),
  );
  // 65519 rounds down to 65504; bf16 has float32's range; Inf stays Inf.
  assert.equal(encodeHalf('F16', new Float32Array([65519])).overflow, undefined);
  const ok = parseSafetensors(serializeSafetensors({ w: big }, undefined, { weightsDtype: 'bf16' })).tensors.get('w')!;
  assert.deepEqual([...ok.data], [1, -70144, 2]);
  const inf = serializeSafetensors({ w: { dtype: 'float32', shape: [1], data: new Float32Array([Infinity]) } }, undefined, { weightsDtype: 'f16' });
  assert.equal(parseSafetensors(inf).tensors.get('w')!.data[0], Infinity);
  assert.throws(() => serializeSafetensors({ w: big }, undefined, { weightsDtype: 'f8' as never }), SafetensorsError);
});

test('f16/bf16 writing keeps float64 and int32 tensors as they are and orders dtypes as the reference', () => {
  const bytes = serializeSafetensors(
    {
      w: { dtype: 'float32', shape: [2], data: new Float32Array([0.1, 3]) },
      d: { dtype: 'float64', shape: [1], data: new Float64Array([0.1]) },
      i: { dtype: 'int32', shape: [1], data: new Int32Array([7]) },
    },
    undefined,
    { weightsDtype: 'bf16' },
  );
  const hdr = new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)))).trim();
  assert.equal(hdr, '{"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"i":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},"w":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]}}');
  const t = parseSafetensors(bytes).tensors;
  assert.equal(t.get('d')!.data[0], 0.1);
  assert.equal(t.get('i')!.data[0], 7);
  assert.deepEqual([...t.get('w')!.data], [0.10009765625, 3]);
});

test("the strict reader's checks apply to half tensors", () => {
  const enc = new TextEncoder();
  const file = (header: string, data: number): Uint8Array => {
    const h = enc.encode(header);
    const out = new Uint8Array(8 + h.length + data);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    return out;
  };
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return (e as SafetensorsError).code;
    }
    return 'no error';
  };
  assert.equal(code(() => parseSafetensors(file('{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}', 4))), 'E_ST_LENGTH_MISMATCH');
  assert.equal(code(() => parseSafetensors(file('{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}', 2))), 'E_ST_TRUNCATED');
  assert.equal(code(() => parseSafetensors(file('{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}', 6))), 'E_ST_TRAILING_BYTES');
  assert.equal(code(() => parseSafetensors(file('{"a":{"dtype":"f16","shape":[2],"data_offsets":[0,4]}}', 4))), 'E_ST_UNKNOWN_DTYPE');
  assert.equal(code(() => parseSafetensors(file('{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', 4))), 'no error');
});

/** A model directory around a weights file written by someone else (here: PyTorch). */
function modelDirWith(weights: Uint8Array, model: Sequential): string {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-half-'));
  const meta = { format: 'nabla.model', formatVersion: 1, architecture: describe(model), input: { shape: [6], kind: 'tabular' }, output: 'logits', classes: ['a', 'b', 'c'] };
  const json = JSON.stringify(meta);
  writeFileSync(join(dir, 'model.safetensors'), weights);
  writeFileSync(join(dir, 'model.json'), json);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'nabla.model', files: { 'model.safetensors': sha256(weights), 'model.json': sha256(json) } }));
  return dir;
}

test("a PyTorch model.half() state dict loads into the same Nabla architecture and gives PyTorch's outputs", () => {
  const arch = new Sequential(new Linear(6, 5), new ReLU(), new Linear(5, 3));
  const { model } = loadModelDir(modelDirWith(fixture('half-model.safetensors'), arch));
  const io = load('half-model-io.safetensors');
  const x = tensor(io.get('x')!.data, { shape: io.get('x')!.shape });
  const y = noGrad(() => model.forward(x) as Tensor).toTypedArray();
  const want = io.get('y')!.data;
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(y[i]! - want[i]!) <= 1e-6, `y[${i}] ${y[i]} vs ${want[i]}`);
});

test('saveModelDir writes f16 on request; the directory loads back to the rounded weights', () => {
  manualSeed(3);
  const m = new Sequential(new Linear(6, 5), new ReLU(), new Linear(5, 3));
  const dir = mkdtempSync(join(tmpdir(), 'nabla-half-'));
  saveModelDir(dir, m, { input: { shape: [6], kind: 'tabular' }, output: 'logits', classes: ['a', 'b', 'c'] }, { weightsDtype: 'f16' });
  const header = new TextDecoder().decode(readFileSync(join(dir, 'model.safetensors')).subarray(8, 400));
  assert.match(header, /"0\.weight":\{"dtype":"F16"/);
  const back = loadModelDir(dir).model.stateDict();
  for (const [name, t] of m.stateDict()) {
    const src = t.toTypedArray() as Float32Array;
    const got = back.get(name)!.toTypedArray() as Float32Array;
    const want = new Float32Array(src.length);
    decodeHalf('F16', encodeHalf('F16', src).bytes, want);
    sameBits(got, want, name);
    assert.ok(src.some((v, i) => v !== got[i]), `${name}: f16 rounding changed at least one weight`);
  }
});

test('nabla train --weights-dtype bf16 saves BF16 weights; a bad value is one line, exit 2', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'nabla-half-cli-'));
  const run = (extra: string[]) =>
    spawnSync(process.execPath, [BIN, 'train', '--model', 'perceptron', '--dataset', 'and', '--epochs', '2', '--out', 'r', '--json', ...extra], {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, NABLA_OFFLINE: '1' },
    });
  const bad = run(['--weights-dtype', 'f8']);
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /--weights-dtype/);
  const ok = run(['--weights-dtype', 'bf16']);
  assert.equal(ok.status, 0, ok.stderr);
  const bytes = new Uint8Array(readFileSync(join(cwd, 'r', 'model', 'model.safetensors')));
  assert.match(new TextDecoder().decode(bytes.subarray(8, 300)), /"dtype":"BF16"/);
  assert.ok(loadModelDir(join(cwd, 'r', 'model')).model.parameters().length > 0);
});
