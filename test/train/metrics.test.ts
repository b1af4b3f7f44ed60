// Metrics against hand-computed values, including a class that is never predicted (precision 0
// by the zero_division=0 rule) and the streaming accumulator.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import {
  accuracy, confusionMatrix, precision, recall, f1Score, classificationReport, reportFromConfusion,
  formatConfusionMatrix, formatReport, MetricAccumulator,
} from '../../src/train/metrics.js';

// K = 4; class 3 is never predicted.
const target = [0, 0, 0, 1, 1, 2, 2, 2, 3, 3];
const pred = [0, 1, 0, 1, 1, 2, 0, 2, 2, 1];
const CM = [
  [2, 1, 0, 0],
  [0, 2, 0, 0],
  [1, 0, 2, 0],
  [0, 1, 1, 0],
];

function close(a: number, b: number, msg?: string): void {
  assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ''} ${a} vs ${b}`);
}
function closeAll(a: number[], b: number[]): void {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => close(v, b[i], `[${i}]`));
}

test('accuracy and confusion matrix (rows = true, cols = predicted)', () => {
  const p = nb.tensor(pred, { dtype: 'int32' }), t = nb.tensor(target, { dtype: 'int32' });
  assert.equal(accuracy(p, t), 0.6);
  assert.deepEqual(confusionMatrix(p, t, 4), CM);
  assert.deepEqual(confusionMatrix(pred, Int32Array.from(target), 4), CM);
});

test('logits are reduced with argmax', () => {
  const logits = nb.tensor([[0.1, 2, -1], [3, 0, 0], [0, 0, 5]]);
  assert.equal(accuracy(logits, nb.tensor([1, 0, 0], { dtype: 'int32' })), 2 / 3);
  assert.deepEqual(confusionMatrix(logits, [1, 0, 0], 3), [[1, 0, 1], [0, 1, 0], [0, 0, 0]]);
});

test('precision / recall / F1 per class, macro and weighted; never-predicted class scores 0', () => {
  closeAll(precision(pred, target, 4, 'none'), [2 / 3, 0.5, 2 / 3, 0]);
  closeAll(recall(pred, target, 4, 'none'), [2 / 3, 1, 2 / 3, 0]);
  closeAll(f1Score(pred, target, 4, 'none'), [2 / 3, 2 / 3, 2 / 3, 0]);
  close(precision(pred, target, 4), (2 / 3 + 0.5 + 2 / 3) / 4);
  close(recall(pred, target, 4), (2 / 3 + 1 + 2 / 3) / 4);
  close(f1Score(pred, target, 4), 0.5);
  close(precision(pred, target, 4, 'weighted'), 0.5);
  close(recall(pred, target, 4, 'weighted'), 0.6);
  close(f1Score(pred, target, 4, 'weighted'), (2 + 4 / 3 + 2) / 10);
});

test('classificationReport and its text tables', () => {
  const r = classificationReport(pred, target, 4, ['zero', 'one', 'two', 'three']);
  assert.equal(r.accuracy, 0.6);
  assert.equal(r.total, 10);
  assert.deepEqual(r.classes.map((c) => c.support), [3, 2, 3, 2]);
  assert.equal(r.classes[3].precision, 0);
  close(r.macro.f1, 0.5);
  assert.deepEqual(r.confusionMatrix, CM);
  const text = formatReport(r);
  assert.match(text, /three\s+0\.0000\s+0\.0000\s+0\.0000\s+2/);
  assert.match(text, /accuracy\s+0\.6000\s+10/);
  assert.match(text, /macro avg\s+0\.4583\s+0\.5833\s+0\.5000\s+10/);
  const cm = formatConfusionMatrix(CM, ['zero', 'one', 'two', 'three']);
  const lines = cm.split('\n');
  assert.equal(lines.length, 5);
  assert.match(lines[0], /true \\ pred\s+zero\s+one\s+two\s+three/);
  assert.match(lines[4], /^three\s+0\s+1\s+1\s+0$/);
});

test('a class absent from both targets and predictions scores 0 and still counts in the macro average', () => {
  const r = reportFromConfusion([[1, 0], [0, 0]]);
  assert.deepEqual(r.classes.map((c) => [c.precision, c.recall, c.f1]), [[1, 1, 1], [0, 0, 0]]);
  assert.equal(r.macro.f1, 0.5);
});

test('MetricAccumulator streams batches: loss weighted by batch size, same report as all at once', () => {
  const acc = new MetricAccumulator(4);
  acc.update(nb.tensor(pred.slice(0, 4), { dtype: 'int32' }), nb.tensor(target.slice(0, 4), { dtype: 'int32' }), 1.0);
  acc.update(pred.slice(4), target.slice(4), nb.scalar(0.5));
  const res = acc.compute();
  close(res.loss, (4 * 1.0 + 6 * 0.5) / 10);
  assert.equal(res.samples, 10);
  assert.equal(res.accuracy, 0.6);
  assert.deepEqual(res.report, classificationReport(pred, target, 4));
  assert.equal(acc.reset().count, 0);
  assert.ok(Number.isNaN(acc.compute().loss));
});

test('errors: length mismatch, out-of-range classes, float targets', () => {
  assert.throws(() => accuracy([0, 1], [0]), { code: 'E_SHAPE' });
  assert.throws(() => confusionMatrix([0, 4], [0, 1], 4), { code: 'E_INDEX' });
  assert.throws(() => confusionMatrix([0, 1], [0, -1], 4), { code: 'E_INDEX' });
  assert.throws(() => accuracy(nb.tensor([0, 1], { dtype: 'int32' }), nb.tensor([0, 1])), { code: 'E_DTYPE' });
  assert.throws(() => accuracy(nb.tensor([0.2, 0.8]), [0, 1]), { code: 'E_SHAPE' });
  assert.throws(() => new MetricAccumulator(0), { code: 'E_VALUE' });
});
