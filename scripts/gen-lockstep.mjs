#!/usr/bin/env node
// Writes the lockstep SIMD loop bodies of the transcendental kernels (GELU, attention's exp rows)
// into their .as files, between `// <lockstep NAME>` and `// </lockstep>` markers.
// Why: each kernel's per-vector work is one long dependent chain (a division, Horner polynomials,
// exp's range reduction) of ~130 cycles for GELU, so a loop over one vector at a time keeps the
// CPU waiting on latency; doing U independent vectors with every step issued for all U before the
// next (lockstep) fills the pipeline (measured: gelu_forward on 2M floats 12.3 → 5.1 ms for U=8).
// Each lane does exactly the operations of the one-vector code, so results are bit-identical.
// Usage: node scripts/gen-lockstep.mjs   (then node scripts/build-wasm.mjs)

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'src/backend/wasm/assembly');

const S = (c) => `f32x4.splat(${c})`;

/** exp as assembly/attention.as's expv (Cephes: range reduction, degree-6 Horner, 2^n), of X into Y. */
const exp = (X, Y, k) => [
  `const ${k}lo# = f32x4.lt(${X}#, ${S('-87.0')});`,
  `const ${k}xc# = f32x4.min(${X}#, ${S('88.0')});`,
  `const ${k}n# = f32x4.nearest(f32x4.mul(${k}xc#, ${S('LOG2E')}));`,
  `const ${k}r# = f32x4.sub(f32x4.sub(${k}xc#, f32x4.mul(${k}n#, ${S('LN2_HI')})), f32x4.mul(${k}n#, ${S('LN2_LO')}));`,
  `let ${k}q# = ${S('P0')};`,
  ...['P1', 'P2', 'P3', 'P4', 'P5'].map((c) => `${k}q# = f32x4.add(f32x4.mul(${k}q#, ${k}r#), ${S(c)});`),
  `${k}q# = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(${k}q#, ${k}r#), ${k}r#), ${k}r#), ${S('1.0')});`,
  `const ${k}ni# = i32x4.max_s(i32x4.trunc_sat_f32x4_s(${k}n#), i32x4.splat(-126));`,
  `const ${Y}# = v128.andnot(f32x4.mul(${k}q#, i32x4.shl(i32x4.add(${k}ni#, i32x4.splat(127)), 23)), ${k}lo#);`,
];

/** Φ(V) as assembly/gelu.as's cdfv (erfc by t·exp(−z² + P(t))), into CDF. */
const cdf = (V, CDF) => [
  `const z# = f32x4.mul(f32x4.abs(${V}#), ${S('SQRT1_2')});`,
  `const t# = f32x4.div(${S('1')}, f32x4.add(${S('1')}, f32x4.mul(z#, ${S('0.5')})));`,
  `let p# = ${S('C10')};`,
  ...['C9', 'C8', 'C7', 'C6', 'C5', 'C4', 'C3', 'C2', 'C1', 'C0'].map((c) => `p# = f32x4.add(f32x4.mul(p#, t#), ${S(c)});`),
  `const a# = f32x4.sub(p#, f32x4.mul(z#, z#));`,
  ...exp('a', 'ea', 'c'),
  `const h# = f32x4.mul(f32x4.mul(t#, ea#), ${S('0.5')});`,
  `const ${CDF}# = v128.bitselect(h#, f32x4.sub(${S('1')}, h#), f32x4.lt(${V}#, ${S('0')}));`,
];

/** e^X of two doubles as assembly/elementwise.as's exp64v, into Y. */
const exp64 = (X, Y, k) => [
  `const ${k}xc# = f64x2.min(f64x2.max(${X}#, f64x2.splat(-200.0)), f64x2.splat(200.0));`,
  `const ${k}n# = f64x2.nearest(f64x2.mul(${k}xc#, f64x2.splat(EX_LOG2E)));`,
  `const ${k}r# = f64x2.sub(f64x2.sub(${k}xc#, f64x2.mul(${k}n#, f64x2.splat(EX_LN2_HI))), f64x2.mul(${k}n#, f64x2.splat(EX_LN2_LO)));`,
  `let ${k}p# = f64x2.splat(EX_C12);`,
  ...['EX_C11', 'EX_C10', 'EX_C9', 'EX_C8', 'EX_C7', 'EX_C6', 'EX_C5', 'EX_C4', 'EX_C3', 'EX_C2', '1.0', '1.0'].map((c) => `${k}p# = f64x2.add(f64x2.mul(${k}p#, ${k}r#), f64x2.splat(${c}));`),
  `const ${Y}# = f64x2.mul(${k}p#, i64x2.shl(i64x2.add(i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(${k}n#)), i64x2.splat(1023)), 52));`,
];

// Each kernel: lanes U, and its body lines, `#` standing for the lane and `@` for its byte offset.
const kernels = {
  gelu_forward: [8, [
    'const v# = v128.load(x + o + @);',
    ...cdf('v', 'cd'),
    'v128.store(out + o + @, f32x4.mul(v#, cd#));',
  ]],
  gelu_backward: [4, [
    'const v# = v128.load(x + o + @);',
    'const b# = f32x4.mul(f32x4.mul(v#, v#), NH);',
    ...exp('b', 'eb', 'd'),
    'const pdf# = f32x4.mul(eb#, K);',
    ...cdf('v', 'cd'),
    'v128.store(out + o + @, f32x4.mul(v128.load(g + o + @), f32x4.add(cd#, f32x4.mul(v#, pdf#))));',
  ]],
  // Each f32x4 as two double pairs (expf4 in elementwise.as): eight chains for four vectors.
  ew_exp: [4, [
    'const v# = v128.load(x + o + @);',
    'const a# = f64x2.promote_low_f32x4(v#);',
    'const b# = f64x2.promote_low_f32x4(v128.shuffle<i32>(v#, v#, 2, 3, 2, 3));',
    ...exp64('a', 'ea', 'a').map((l, i) => [l, exp64('b', 'eb', 'b')[i]]).flat(),
    'v128.store(out + o + @, v128.shuffle<i32>(f32x4.demote_f64x2_zero(ea#), f32x4.demote_f64x2_zero(eb#), 0, 1, 4, 5));',
  ]],
  // at_forward's exp pass: the sum adds the lanes' vectors in their order, as the one-vector loop.
  at_forward: [4, [
    'const s# = f32x4.sub(v128.load(row + o + @), M);',
    ...exp('s', 'e', ''),
    'v128.store(row + o + @, e#);',
    'acc = f32x4.add(acc, e#);',
  ]],
  at_backward: [4, [
    'const s# = f32x4.sub(v128.load(row + o + @), M);',
    ...exp('s', 'e', ''),
    'v128.store(row + o + @, e#);',
    'v128.store(drow + o + @, f32x4.mul(f32x4.mul(e#, f32x4.sub(v128.load(drow + o + @), D)), SC));',
  ]],
};

function body(name, indent) {
  const [U, lines] = kernels[name];
  const out = [];
  for (const line of lines) {
    for (let j = 0; j < U; j++) out.push(indent + line.replaceAll('#', String(j)).replaceAll(' + @', j ? ` + ${16 * j}` : ''));
  }
  return out;
}

for (const file of ['gelu.as', 'attention.as', 'elementwise.as']) {
  const path = join(dir, file);
  const src = readFileSync(path, 'utf8').split('\n');
  const res = [];
  for (let i = 0; i < src.length; i++) {
    const m = /^(\s*)\/\/ <lockstep (\w+)>/.exec(src[i]);
    if (!m) { res.push(src[i]); continue; }
    if (!kernels[m[2]]) throw new Error(`${file}: unknown lockstep kernel ${m[2]}`);
    res.push(src[i], ...body(m[2], m[1]));
    while (i < src.length && !/\/\/ <\/lockstep>/.test(src[i])) i++;
    if (i === src.length) throw new Error(`${file}: <lockstep ${m[2]}> has no end marker`);
    res.push(src[i]);
  }
  writeFileSync(path, res.join('\n'));
}
