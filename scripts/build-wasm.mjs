#!/usr/bin/env node
// Compiles the AssemblyScript kernels in src/backend/wasm/assembly/*.as into
// dist/src/backend/wasm/kernels.wasm (next to the compiled loader, which finds it by URL), and a
// second module, kernels-relaxed.wasm, with relaxed SIMD (fused multiply-add) that the loader
// prefers where the engine validates it (Node 22+; Node 20 with --experimental-wasm-relaxed-simd).
// The sources use the .as extension so that tsc, which compiles src/**/*.ts, leaves them alone;
// asc only reads .ts names, so they are handed to it in memory under .ts names.
// Usage: node scripts/build-wasm.mjs [--out DIR] [--wat]

import { readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src/backend/wasm/assembly');
const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const outDir = outIdx >= 0 ? resolve(args[outIdx + 1]) : join(root, 'dist/src/backend/wasm');

const sources = {};
for (const f of readdirSync(srcDir).filter((f) => f.endsWith('.as')).sort()) {
  sources[f.replace(/\.as$/, '.ts')] = readFileSync(join(srcDir, f), 'utf8');
}

// Memory is imported (created by the loader as a shared WebAssembly.Memory so that worker
// threads run the same kernels on the same buffers); 65536 pages = the whole 4 GiB wasm32 space.
const base = {
  optimizeLevel: 3,
  shrinkLevel: 0,
  converge: true,
  noAssert: true,
  runtime: 'stub',
  importMemory: true,
  sharedMemory: true,
  initialMemory: 1,
  maximumMemory: 65536,
};
// kernels-local.wasm: the same kernels on an unshared memory, for the single-threaded ones
// (elementwise, reductions, optimiser steps): copying into and out of an unshared memory runs at
// memcpy speed, into a shared one about half that (the engine copies it with relaxed atomics).
const variants = [
  ['kernels.wasm', ['simd', 'threads'], true],
  ['kernels-relaxed.wasm', ['simd', 'threads', 'relaxed-simd'], true],
  ['kernels-local.wasm', ['simd'], false],
];
mkdirSync(outDir, { recursive: true });
for (const [file, enable, sharedMemory] of variants) {
  const res = await asc.compileString(sources, { ...base, enable, sharedMemory });
  if (res.error || !res.binary) {
    process.stderr.write(res.stderr.toString());
    console.error(`build-wasm: ${file}: ${res.error?.message ?? 'no binary produced'}`);
    process.exit(1);
  }
  const out = join(outDir, file);
  writeFileSync(out, res.binary);
  if (args.includes('--wat')) writeFileSync(out.replace(/\.wasm$/, '.wat'), res.text ?? '');
  console.log(`build-wasm: ${Object.keys(sources).join(', ')} -> ${out} (${res.binary.length} bytes)`);
}
