// Writes the bundled MNIST split (8,000 train / 2,000 test, seed 0) as IDX files, so PyTorch can
// train on exactly the data `nabla train` uses:
//   node dist/bench/export-bundled.js /tmp/bundled
//   /usr/bin/python3 bench/torch_reference.py --data /tmp/bundled --models mlp

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { data } from '../src/index.js';

const dir = process.argv[2] ?? 'bundled-mnist';
const { train, test } = data.loadMnistBundled({ seed: 0 });
mkdirSync(dir, { recursive: true });
// The bundled pixels are k/255 exactly, so rounding recovers the original bytes.
const bytes = (f: Float32Array) => Uint8Array.from(f, (v) => Math.round(v * 255));
for (const [name, s] of [['train', train], ['t10k', test]] as const) {
  writeFileSync(join(dir, `${name}-images-idx3-ubyte`), data.encodeIdx('uint8', [s.count, s.rows, s.cols], bytes(s.images)));
  writeFileSync(join(dir, `${name}-labels-idx1-ubyte`), data.encodeIdx('uint8', [s.count], Uint8Array.from(s.labels)));
}
console.log(`wrote ${train.count} train and ${test.count} test digits to ${dir}`);
