// `nabla data report` and `nabla data clean`: the quality report and the cleaning steps on CSV
// files, and the cleaned file training where the raw one was refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonLines, nabla, oneLineExit2, tmp } from './helpers.js';

/** 12 rows, 3 classes: one missing cell, one exact duplicate row, one row with an infinite value. */
function messyCsv(dir: string): string {
  const rows = ['x,y,label'];
  for (let i = 0; i < 10; i++) rows.push(`${i % 3 + i * 0.01},${(i % 3) * 2},${['a', 'b', 'c'][i % 3]}`);
  rows[3] = '2.02,,c'; // row 3: y missing
  rows.push(rows[1]!); // duplicate of row 1
  rows.push('1e40,1,a'); // beyond float32: +Infinity
  const path = join(dir, 'messy.csv');
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
}

test('data report: missing values, duplicates, infinite values and class balance, as text and JSON', () => {
  const dir = tmp();
  const csv = messyCsv(dir);
  const r = nabla(['data', 'report', csv, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.rows, 12);
  assert.deepEqual(rep.columns, ['x', 'y']);
  assert.equal(rep.missingCells, 1);
  assert.equal(rep.duplicateRows, 1);
  assert.equal(rep.infiniteCells, 1);
  assert.deepEqual(rep.classBalance.classes, ['a', 'b', 'c']);
  const text = nabla(['data', 'report', csv]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /column y: 1 missing value/);
  assert.match(text.stdout, /1 duplicate row/);
});

test('data report over a directory compares the sources column by column', () => {
  const dir = tmp();
  const src = join(dir, 'sources');
  mkdirSync(src);
  writeFileSync(join(src, 'a.csv'), 'x,label\n1,p\n2,q\n3,p\n4,q\n');
  writeFileSync(join(src, 'b.csv'), 'x,z,label\n100,1,p\n200,2,q\n300,3,p\n400,4,q\n');
  const r = nabla(['data', 'report', src, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.deepEqual(rep.files, ['a.csv', 'b.csv']);
  assert.equal(rep.rows, 8);
  assert.ok(rep.consistency.some((c: { column: string; flagged: boolean }) => c.column === 'x' && c.flagged), 'x differs wildly between the sources');
  assert.ok(rep.issues.some((s: string) => /source a.csv: lacks column\(s\) z/.test(s)));
});

test('data clean: fill, drop duplicates and invalid rows, write atomically; the result trains where the raw file was refused', () => {
  const dir = tmp();
  const csv = messyCsv(dir);
  const out = join(dir, 'clean.csv');
  const r = nabla(['data', 'clean', csv, '--fill', 'mean', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.rowsIn, 12);
  assert.deepEqual(s.filled, { y: 1 });
  assert.equal(s.droppedNonFinite, 1);
  assert.equal(s.droppedDuplicates, 1);
  assert.equal(s.rowsOut, 10);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'x,y,label');
  assert.equal(lines.length, 11);
  assert.ok(lines.every((l) => !l.includes(',,')), 'no empty cell left');
  assert.match(lines[1]!, /^0,0,a$/);
  // Without --fill, rows with a missing value are dropped instead.
  const drop = nabla(['data', 'clean', csv, '--out', join(dir, 'dropped.csv'), '--json']);
  assert.equal(drop.code, 0, drop.stderr);
  assert.equal(JSON.parse(drop.stdout).rowsOut, 9);
  // The raw file is refused by train, the cleaned one trains.
  assert.match(oneLineExit2(nabla(['train', '--dataset', csv, '--epochs', '1'])), /missing|not a number|infinite/i);
  const t = nabla(['train', '--model', 'mlp', '--dataset', out, '--epochs', '1', '--val-split', '0', '--json', '--out', join(dir, 'run')]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(jsonLines(t.stdout).at(-1)!.epochs, 1);
});

test('data clean merges sources by column name (--join inner keeps the shared columns); bad options are one line, exit 2', () => {
  const dir = tmp();
  const a = join(dir, 'a.csv');
  const b = join(dir, 'b.csv');
  writeFileSync(a, 'x,y,label\n1,2,p\n3,4,q\n');
  writeFileSync(b, 'y,x,z,label\n20,10,0,q\n40,30,0,r\n');
  const out = join(dir, 'merged.csv');
  const r = nabla(['data', 'clean', a, b, '--join', 'inner', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /dropped z/);
  assert.equal(readFileSync(out, 'utf8'), 'x,y,label\n1,2,p\n3,4,q\n10,20,q\n30,40,r\n');
  assert.match(oneLineExit2(nabla(['data', 'clean', a, '--fill', 'constant', '--out', out])), /--fill constant needs --fill-value/);
  assert.match(oneLineExit2(nabla(['data', 'clean', a])), /--out/);
  assert.match(oneLineExit2(nabla(['data', 'report', join(dir, 'none.csv')])), /no such file or directory/);
});
