// Small data for tune and queue tests: three Gaussian blobs in 4-D as a CSV with a letter label.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Generator } from '../../src/random.js';

export function blobsCsv(dir: string, n = 240): string {
  const g = new Generator(3);
  const lines = ['f1,f2,f3,f4,label'];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    lines.push([0, 1, 2, 3].map((k) => (c * 1.5 + (k % 2) * c + g.normal()).toFixed(4)).concat(['abc'[c]]).join(','));
  }
  const p = join(dir, 'blobs.csv');
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}
