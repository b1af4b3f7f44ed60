// The nabla command end to end: argument errors (one line, exit 2), training on small data,
// eval/predict on the saved model, and `--resume` after kill -9 giving bit-identical weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { Generator } from '../../src/index.js';
import { saveModelDir } from '../../src/io/model-dir.js';
import { mlp } from '../../src/models/reference.js';

const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));

const tmp = () => mkdtempSync(join(tmpdir(), 'nabla-cli-'));

/** Runs the CLI in a fresh temporary directory, never the user's working directory (runs/latest). */
function nabla(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp(), encoding: 'utf8', env: { ...process.env, NABLA_OFFLINE: '1', ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Three separable Gaussian blobs in 4-D, as a CSV with a string label column. */
function blobsCsv(dir: string, n = 240): string {
  const g = new Generator(3);
  const lines = ['f1,f2,f3,f4,label'];
  const names = ['setosa', 'versicolor', 'virginica'];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    const row = [0, 1, 2, 3].map((k) => (c * 3 + (k % 2) * c + g.normal() * 0.5).toFixed(4));
    lines.push([...row, names[c]].join(','));
  }
  const path = join(dir, 'blobs.csv');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const usageCases: [string, string[], RegExp][] = [
  ['unknown command', ['fly'], /unknown command/],
  ['unknown flag', ['train', '--bogus'], /unknown option '--bogus'/],
  ['non-integer epochs', ['train', '--epochs', 'abc'], /--epochs expects a positive integer, got 'abc'/],
  ['zero batch size', ['train', '--batch-size', '0'], /--batch-size expects a positive integer/],
  ['negative lr', ['train', '--lr', '-1'], /--lr expects a positive number/],
  ['unknown optimizer', ['train', '--optimizer', 'lbfgs'], /--optimizer.*lbfgs.*(sgd|choices)/s],
  ['missing dataset file', ['train', '--dataset', '/nonexistent/data.csv'], /--dataset '\/nonexistent\/data.csv' is neither a built-in dataset/],
  ['missing architecture file', ['train', '--model', '/nonexistent/arch.json'], /--model \/nonexistent\/arch.json: no such file/],
  ['bad val split', ['train', '--val-split', '1.5'], /--val-split expects a number in \[0, 1\)/],
  ['unknown backend', ['train', '--backend', 'cuda'], /--backend: unknown backend 'cuda'/],
  ['eval of a missing model', ['eval', '/nonexistent/model'], /model directory \/nonexistent\/model does not exist/],
  ['predict of a missing file', ['predict', '/nonexistent/model', 'x.png'], /does not exist/],
  ['resume of a non-run', ['train', '--resume', '/nonexistent/run'], /--resume \/nonexistent\/run: .*run.json not found/],
  ['perceptron on a 10-class set', ['train', '--model', 'perceptron', '--dataset', 'mnist-bundled'], /perceptron is a one-unit binary classifier/],
];

for (const [name, args, pattern] of usageCases) {
  test(`usage error → one line, exit 2: ${name}`, () => {
    const r = nabla(args);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, `expected one line, got:\n${r.stderr}`);
    assert.equal(r.stdout, '');
  });
}

test('train --help and info exit 0', () => {
  assert.equal(nabla(['train', '--help']).code, 0);
  const info = nabla(['info', '--json']);
  assert.equal(info.code, 0);
  const parsed = JSON.parse(info.stdout);
  assert.ok(parsed.backends.some((b: { name: string }) => b.name === 'js'));
});

test('perceptron learns AND from the command line (JSON lines, model saved)', () => {
  const out = tmp();
  const r = nabla(['train', '--model', 'perceptron', '--dataset', 'and', '--epochs', '400', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 401);
  for (const key of ['epoch', 'loss', 'trainSeconds', 'samplesPerSecond', 'valLoss', 'valAccuracy']) assert.ok(key in lines[0], key);
  const last = lines[400];
  assert.equal(last.test.accuracy, 1);
  assert.ok(existsSync(join(last.modelDir, 'model.safetensors')));
});

test('train twice with the default --out: the earlier run is moved aside, never overwritten; a named --out is refused', () => {
  const cwd = tmp();
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'train', '--model', 'perceptron', '--dataset', 'and', '--epochs', '50', ...args], { cwd, encoding: 'utf8', env: { ...process.env, NABLA_OFFLINE: '1' } });
  const first = run([]);
  assert.equal(first.status, 0, first.stderr);
  const firstCfg = readFileSync(join(cwd, 'runs/latest/run.json'), 'utf8');
  const second = run([]);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /moved the earlier run in runs\/latest to runs\/run-/);
  const aside = readdirSync(join(cwd, 'runs')).filter((n) => n.startsWith('run-'));
  assert.equal(aside.length, 1);
  assert.equal(readFileSync(join(cwd, 'runs', aside[0], 'run.json'), 'utf8'), firstCfg);
  assert.ok(existsSync(join(cwd, 'runs', aside[0], 'model', 'model.safetensors')), 'the earlier model is kept');
  assert.ok(existsSync(join(cwd, 'runs/latest/model/model.safetensors')));
  const named = run(['--out', 'runs/latest']);
  assert.equal(named.status, 2, named.stderr);
  assert.match(named.stderr, /--out runs\/latest: holds an earlier run .* --resume runs\/latest/);
});

test('CSV: train an MLP, then eval reproduces its test metrics', () => {
  const dir = tmp();
  const csv = blobsCsv(dir);
  const out = join(dir, 'run');
  const r = nabla(['train', '--model', 'mlp', '--dataset', csv, '--epochs', '15', '--batch-size', '16', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const final = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.ok(final.test.accuracy >= 0.9, `accuracy ${final.test.accuracy}`);
  const e = nabla(['eval', final.modelDir, '--json']);
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(e.stdout);
  assert.equal(ev.accuracy, final.test.accuracy);
  assert.equal(ev.samples, final.test.samples);
  assert.equal(ev.confusion.length, 3);
  const table = nabla(['eval', final.modelDir]);
  assert.match(table.stdout, /confusion matrix/);
  assert.match(table.stdout, /versicolor/);
});

test('predict classifies PNG files with a saved image model', () => {
  const dir = tmp();
  const modelDir = join(dir, 'model');
  saveModelDir(modelDir, mlp(784, 10), {
    input: { shape: [784], normalize: { mean: 0.5, std: 0.5 }, kind: 'image' },
    output: 'logits',
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  });
  const png = new PNG({ width: 28, height: 28 });
  for (let i = 0; i < 28 * 28; i++) {
    const on = i % 28 > 10 && i % 28 < 16 ? 255 : 0;
    png.data.set([on, on, on, 255], i * 4);
  }
  const file = join(dir, 'one.png');
  writeFileSync(file, PNG.sync.write(png));
  const r = nabla(['predict', modelDir, file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  assert.equal(p.file, file);
  assert.ok(p.class in p.probabilities);
  const total = Object.values(p.probabilities as Record<string, number>).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - 1) < 1e-4);
  const bad = join(dir, 'bad.png');
  writeFileSync(bad, readFileSync(file).subarray(0, 40));
  const rb = nabla(['predict', modelDir, bad]);
  assert.equal(rb.code, 2);
  assert.match(rb.stderr, /bad\.png/);
});

test('a corrupted model file is refused with a named error', () => {
  const dir = tmp();
  const modelDir = join(dir, 'model');
  saveModelDir(modelDir, mlp(4, 3), { input: { shape: [4], kind: 'tabular' }, output: 'logits', classes: ['a', 'b', 'c'] });
  const w = join(modelDir, 'model.safetensors');
  const bytes = readFileSync(w);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(w, bytes);
  const r = nabla(['eval', modelDir, '--dataset', blobsCsv(dir)]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /SHA-256 .* does not match the manifest/);
});

test('--resume after kill -9 ends with weights bit-identical to an uninterrupted run', async () => {
  const dir = tmp();
  const csv = blobsCsv(dir, 600);
  const args = ['train', '--model', 'mlp', '--dataset', csv, '--epochs', '6', '--batch-size', '8', '--checkpoint-every', '5', '--json'];
  const full = nabla([...args, '--out', join(dir, 'full')]);
  assert.equal(full.code, 0, full.stderr);

  const run = join(dir, 'killed');
  const child = spawn(process.execPath, [BIN, ...args, '--out', run], { cwd: dir, stdio: 'ignore', env: { ...process.env, NABLA_OFFLINE: '1' } });
  const ckptDir = join(run, 'checkpoints');
  await new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const n = existsSync(ckptDir) ? readdirSync(ckptDir).filter((f) => f.startsWith('ckpt-')).length : 0;
      if (n >= 2 || Date.now() - started > 60_000) {
        clearInterval(poll);
        child.kill('SIGKILL');
        if (n >= 2) resolve();
        else reject(new Error('no checkpoint appeared within 60 s'));
      }
    }, 20);
    child.on('exit', () => {
      clearInterval(poll);
      resolve();
    });
  });
  await new Promise((r) => setTimeout(r, 50));
  const resumed = nabla(['train', '--resume', run, '--json']);
  assert.equal(resumed.code, 0, resumed.stderr);
  const a = readFileSync(join(dir, 'full', 'model', 'model.safetensors'));
  const b = readFileSync(join(run, 'model', 'model.safetensors'));
  assert.equal(Buffer.compare(a, b), 0, 'weights differ after resume');
});
