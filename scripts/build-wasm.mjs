#!/usr/bin/env node
// Compiles the AssemblyScript kernels in src/backend/wasm/assembly/*.as into
// dist/src/backend/wasm/kernels.wasm (next to the compiled loader, which finds it by URL).
// The sources use the .as extension so that tsc, which compiles src/**/*.ts, leaves them alone;
// asc only reads .ts names, so they are handed to it in memory under .ts names.
// Usage: node scripts/build-wasm.mjs [--out FILE] [--wat]

import { readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src/backend/wasm/assembly');
const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const out = outIdx >= 0 ? resolve(args[outIdx + 1]) : join(root, 'dist/src/backend/wasm/kernels.wasm');

const sources = {};
for (const f of readdirSync(srcDir).filter((f) => f.endsWith('.as')).sort()) {
  sources[f.replace(/\.as$/, '.ts')] = readFileSync(join(srcDir, f), 'utf8');
}

// Memory is imported (created by the loader as a shared WebAssembly.Memory so that worker
// threads run the same kernels on the same buffers); 65536 pages = the whole 4 GiB wasm32 space.
const options = {
  optimizeLevel: 3,
  shrinkLevel: 0,
  converge: true,
  noAssert: true,
  runtime: 'stub',
  enable: ['simd', 'threads'],
  importMemory: true,
  sharedMemory: true,
  initialMemory: 1,
  maximumMemory: 65536,
};
const res = await asc.compileString(sources, options);
if (res.error || !res.binary) {
  process.stderr.write(res.stderr.toString());
  console.error(`build-wasm: ${res.error?.message ?? 'no binary produced'}`);
  process.exit(1);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, res.binary);
if (args.includes('--wat')) writeFileSync(out.replace(/\.wasm$/, '.wat'), res.text ?? '');
console.log(`build-wasm: ${Object.keys(sources).join(', ')} -> ${out} (${res.binary.length} bytes)`);
