// `nabla train` regressions from the outside trial (issue 16, defects 1-4 and 9) and the training
// knobs. Every run happens in a temporary working directory.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, blobsCsv, jsonLines, nabla, oneLineExit2, tmp } from './helpers.js';

const PERCEPTRON = ['train', '--model', 'perceptron', '--dataset', 'and'];

test('defect 1: a bad flag or dataset leaves runs/latest where it is (everything is checked first)', () => {
  const cwd = tmp();
  const first = nabla([...PERCEPTRON, '--epochs', '5'], { cwd });
  assert.equal(first.code, 0, first.stderr);
  const before = readFileSync(join(cwd, 'runs/latest/run.json'), 'utf8');
  const listing = readdirSync(join(cwd, 'runs')).sort(); // latest, and the tracking store beside it
  const header = join(cwd, 'header-only.csv');
  writeFileSync(header, 'a,b,label\n');
  const bad: [string[], RegExp][] = [
    [['train', '--dataset', '/nonexistent/data.csv'], /--dataset '\/nonexistent\/data.csv' is neither/],
    [['train', '--dataset', header], /has a header but no data rows/],
    [['train', '--lr-schedule', 'sometimes'], /--lr-schedule 'sometimes': expected inverse-time:BETA/],
    [['train', '--model', 'perceptron', '--dropout', '0.2'], /--dropout applies to the mlp, mlp-sgd and cnn/],
    [['train', '--optimizer', 'adam', '--momentum', '0.9'], /--momentum applies to the sgd and rmsprop optimizers/],
    [['train', '--model', '/nonexistent/arch.json'], /no such file/],
  ];
  for (const [args, pattern] of bad) {
    const r = nabla(args, { cwd });
    assert.match(oneLineExit2(r), pattern);
    assert.equal(r.stdout, '', `${args.join(' ')} printed: ${r.stdout}`);
    assert.equal(readFileSync(join(cwd, 'runs/latest/run.json'), 'utf8'), before, `${args.join(' ')} touched runs/latest`);
    assert.deepEqual(readdirSync(join(cwd, 'runs')).sort(), listing, `${args.join(' ')} moved runs/latest aside`);
  }
});

test('defect 2: --resume of a run that never wrote a checkpoint starts it from step 0 with its saved settings', () => {
  const dir = tmp();
  const csv = blobsCsv(dir, 120);
  const args = ['train', '--model', 'mlp', '--dataset', csv, '--epochs', '2', '--batch-size', '16', '--seed', '5', '--json'];
  const full = nabla([...args, '--out', join(dir, 'full')]);
  assert.equal(full.code, 0, full.stderr);
  // The state a run killed before its first checkpoint leaves: run.json and an empty checkpoints/.
  const run = join(dir, 'killed');
  const killed = nabla([...args, '--out', run]);
  assert.equal(killed.code, 0, killed.stderr);
  rmSync(join(run, 'model'), { recursive: true });
  for (const f of readdirSync(join(run, 'checkpoints'))) rmSync(join(run, 'checkpoints', f));
  const again = nabla(['train', '--out', run]);
  assert.match(oneLineExit2(again), /holds an earlier run .*--resume/);
  const resumed = nabla(['train', '--resume', run, '--json']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /holds no checkpoint yet: starting the run from step 0/);
  const final = jsonLines(resumed.stdout).at(-1)!;
  assert.equal(final.epochs, 2);
  const a = readFileSync(join(dir, 'full', 'model', 'model.safetensors'));
  const b = readFileSync(join(run, 'model', 'model.safetensors'));
  assert.equal(Buffer.compare(a, b), 0, 'a restarted run differs from an uninterrupted one');
});

test('defect 3: an --out that cannot be created is one line, exit 2, without hanging', () => {
  const dir = tmp();
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  const cases: [string, RegExp][] = [
    ['/dev/null/x', /\/dev\/null is not a directory/],
    [file, /exists and is not a directory/],
    [join(file, 'sub'), /is not a directory, so .* cannot be created/],
  ];
  if (existsSync('/proc/self')) cases.push(['/proc/x', /cannot create directory \/proc\/x/]);
  for (const [out, pattern] of cases) {
    const r = nabla([...PERCEPTRON, '--epochs', '2', '--out', out], { timeoutMs: 60_000 });
    assert.equal(r.signal, null, `--out ${out}: killed by the time limit (a hang)`);
    assert.match(oneLineExit2(r), pattern);
  }
});

test('defect 3: a closed stdout (`--json | head -2`) ends training quietly with exit 2, no stack trace', async () => {
  const cwd = tmp();
  const child = spawn(process.execPath, [BIN, ...PERCEPTRON, '--json'], { cwd, env: { ...process.env, NABLA_OFFLINE: '1' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  let seen = '';
  const code = await new Promise<number | null>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.split('\n').length > 2) child.stdout.destroy(); // what `head -2` does
    });
    child.on('exit', (c) => resolve(c));
  });
  assert.equal(code, 2, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Error|\n\s+at /, `stderr:\n${stderr}`);
});

test('defect 4: --resume DIR --epochs 5 extends the run, bit-identical to an uninterrupted 5-epoch run; other flags are refused', () => {
  const dir = tmp();
  const csv = blobsCsv(dir, 120);
  const args = ['train', '--model', 'mlp', '--dataset', csv, '--batch-size', '16', '--lr-schedule', 'step:2,0.5', '--json'];
  const five = nabla([...args, '--epochs', '5', '--out', join(dir, 'five')]);
  assert.equal(five.code, 0, five.stderr);
  const run = join(dir, 'run');
  const two = nabla([...args, '--epochs', '2', '--out', run]);
  assert.equal(two.code, 0, two.stderr);
  assert.match(oneLineExit2(nabla(['train', '--resume', run, '--epochs', '5', '--lr', '0.1'])), /--lr cannot change a run/);
  assert.match(oneLineExit2(nabla(['train', '--resume', run, '--epochs', '1'])), /can be extended, not shortened/);
  const ext = nabla(['train', '--resume', run, '--epochs', '5', '--json']);
  assert.equal(ext.code, 0, ext.stderr);
  const lines = jsonLines(ext.stdout);
  assert.deepEqual(lines.slice(0, -1).map((l) => l.epoch), [3, 4, 5]);
  assert.deepEqual(lines.slice(0, -1).map((l) => l.loss), jsonLines(five.stdout).slice(2, 5).map((l) => l.loss));
  assert.equal(JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')).epochs, 5);
  const a = readFileSync(join(dir, 'five', 'model', 'model.safetensors'));
  const b = readFileSync(join(run, 'model', 'model.safetensors'));
  assert.equal(Buffer.compare(a, b), 0, 'the extended run differs from the uninterrupted one');
});

test('knobs: --lr-schedule step halves the lr, settings kept in run.json; --early-stopping stops when the loss stalls', () => {
  const dir = tmp();
  const csv = blobsCsv(dir, 120);
  const out = join(dir, 'run');
  const r = nabla(['train', '--model', 'mlp-sgd', '--dataset', csv, '--epochs', '3', '--lr', '0.1', '--lr-schedule', 'step:1,0.5',
    '--weight-decay', '0.001', '--momentum', '0.5', '--dropout', '0.2', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(jsonLines(r.stdout).slice(0, 3).map((l) => l.lr), [0.1, 0.05, 0.025]);
  const cfg = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
  assert.equal(cfg.lrSchedule, 'step:1,0.5');
  assert.equal(cfg.weightDecay, 0.001);
  assert.equal(cfg.momentum, 0.5);
  assert.equal(cfg.dropout, 0.2);
  const arch = JSON.parse(readFileSync(join(out, 'model', 'model.json'), 'utf8')).architecture;
  assert.match(JSON.stringify(arch), /Dropout/, 'mlp-sgd with --dropout has Dropout layers');
  // lr 0 from epoch 2 on: the validation loss cannot improve, so patience 0 stops after epoch 2.
  const es = nabla(['train', '--model', 'mlp', '--dataset', csv, '--epochs', '6', '--lr-schedule', 'step:1,0', '--early-stopping', '0', '--json', '--out', join(dir, 'es')]);
  assert.equal(es.code, 0, es.stderr);
  const final = jsonLines(es.stdout).at(-1)!;
  assert.equal(final.epochs, 2);
  assert.match(String(final.stopped), /early stopping at epoch 2/);
});

test('defect 9: a diverging run (--lr 1e9) warns loudly and records the warning; a perceptron run is summarised when piped', () => {
  const dir = tmp();
  const csv = blobsCsv(dir, 120);
  const r = nabla(['train', '--model', 'mlp', '--dataset', csv, '--epochs', '2', '--lr', '1e9', '--json', '--out', join(dir, 'run')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: the training loss exploded/);
  const final = jsonLines(r.stdout).at(-1)!;
  assert.equal((final.warnings as string[]).length, 1);
  const meta = JSON.parse(readFileSync(join(dir, 'run', 'model', 'model.json'), 'utf8'));
  assert.match(meta.training.warnings[0], /exploded/);

  const p = nabla(['train', '--model', 'perceptron', '--dataset', 'and', '--epochs', '1', '--out', join(dir, 'one')]);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /, 1 epoch, seed/);
  const long = nabla(['train', '--model', 'perceptron', '--dataset', 'and', '--out', join(dir, 'long')]);
  assert.equal(long.code, 0, long.stderr);
  const n = long.stdout.trim().split('\n').length;
  assert.ok(n < 40, `a 2,000-epoch perceptron run printed ${n} lines`);
  assert.match(long.stdout, /epoch 2000\/2000/);
});

test('defect 9: missing values point to `nabla data clean`; a non-JSON run.json or manifest is one line', () => {
  const dir = tmp();
  const csv = join(dir, 'gaps.csv');
  writeFileSync(csv, 'a,b,label\n1,,x\n2,3,y\n4,5,x\n6,7,y\n');
  assert.match(oneLineExit2(nabla(['train', '--dataset', csv])), /nabla data clean/);
  const run = join(dir, 'run');
  mkdirSync(run);
  writeFileSync(join(run, 'run.json'), 'not json\n{at all\n');
  assert.match(oneLineExit2(nabla(['train', '--resume', run])), /run.json is not valid JSON/);
  const model = join(dir, 'model');
  mkdirSync(model);
  writeFileSync(join(model, 'manifest.json'), 'hello\nworld\n');
  assert.match(oneLineExit2(nabla(['eval', model])), /manifest/);
});
