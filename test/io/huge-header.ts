// Child process for model-dir.test.ts: parse a safetensors image whose __metadata__ holds N
// numbers, print the error code. Run with a small heap to prove the parse is bounded.

import { parseSafetensors } from '../../src/io/safetensors.js';

const n = Number(process.argv[2] ?? 1000);
const head = '{"__metadata__":{"k":[';
const tail = ']},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
const len = Math.ceil((head.length + 2 * n - 1 + tail.length) / 8) * 8;
const file = Buffer.alloc(8 + len + 4, 0x20);
file.writeBigUInt64LE(BigInt(len), 0);
let o = 8 + file.write(head, 8, 'latin1');
for (let i = 0; i < n; i++) {
  file[o++] = 0x30;
  if (i < n - 1) file[o++] = 0x2c;
}
file.write(tail, o, 'latin1');
try {
  parseSafetensors(file);
  console.log('accepted');
} catch (e) {
  console.log(`${(e as { code?: string }).code} ${(e as Error).message}`);
}
