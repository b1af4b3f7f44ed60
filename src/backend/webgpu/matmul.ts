// Batched matmul a [B,M,K] · b [B,K,N] on strided views, and torch's linear (x · wᵀ + bias) as the
// same kernel with a bias epilogue. A 256-invocation workgroup computes a BM×BN tile of C with
// each invocation holding TM×TN outputs in registers (8×8 for 128×128 tiles; 4×4 for 64×64 tiles
// when the product is small), stepping over K in slices of BK=8 through double-buffered
// workgroup memory: the next slice is fetched from global memory into registers while the
// current one is multiplied, so one barrier per slice suffices. Operands whose rows (or columns)
// are contiguous and 16-byte aligned are read as vec4; others element by element. The shader is
// generated fully unrolled (registers as named variables), so no driver has to unroll or
// promote a private array to registers.

import { ValueError } from '../../errors.js';
import { Params, type GpuArray, type GpuContext, type GpuDType, type GpuView } from './context.js';
import { storage, wgslType } from './wgsl.js';

const BK = 8;

/** How one operand's tile is read: vec4 along its contiguous dim, or element by element. */
type LoadMode = 'vecK' | 'vecMN' | 'scalar';

interface TileConfig { TM: number; TN: number }

/** The operand's load mode: dims [rows, cols] = [M,K] for a, [K,N] for b; `cStride`/`rStride` those dims' strides. */
function loadMode(offset: number, batchStride: number, rStride: number, cStride: number, rows: number, cols: number, rowIsK: boolean): LoadMode {
  const aligned = offset % 4 === 0 && batchStride % 4 === 0;
  if (!aligned) return 'scalar';
  // vec4 along the column dim: columns contiguous, rows 16-byte aligned, whole vec4s in bounds.
  if (cStride === 1 && rStride % 4 === 0 && cols % 4 === 0) return rowIsK ? 'vecMN' : 'vecK';
  if (rStride === 1 && cStride % 4 === 0 && rows % 4 === 0) return rowIsK ? 'vecK' : 'vecMN';
  return 'scalar';
}

/**
 * WGSL to fetch one operand's BK-slice into registers and store it into workgroup memory laid out
 * [buf][k][rows/4] (vec4 along M for a, along N for b). `side` is 'A' (rows M) or 'B' (cols N).
 */
function tileLoader(side: 'A' | 'B', mode: LoadMode, R: number, T: string): { regs: string; fetch: string; store: string } {
  // R = BM (A) or BN (B): the tile's extent along M or N. Coordinates: r along M/N, k along K.
  const V = `vec4<${T}>`;
  const R4 = R / 4;
  const name = side.toLowerCase();
  const strideMN = side === 'A' ? `${name}SM` : `${name}SN`;
  const limMN = side === 'A' ? 'M' : 'N';
  const base = side === 'A' ? 'm0' : 'n0';
  let units: number;
  let fetchOne: (u: string, reg: string) => string;
  let storeOne: (u: string, reg: string) => string;
  const sm = `${side}s`;
  if (mode === 'vecK') {
    // Units of 4 consecutive k at one row r: R rows × BK/4.
    units = R * (BK / 4);
    fetchOne = (u, reg) => `{ let r = ${u} / ${BK / 4}u; let k = k0 + (${u} % ${BK / 4}u) * 4u; let g = ${base} + r;
      ${reg} = select(${V}(0), ${name}4[(${name}Base + i32(g) * ${strideMN} + i32(k)) / 4], g < ${limMN} && k < K); }`;
    storeOne = (u, reg) => `{ let r = ${u} / ${BK / 4}u; let k = (${u} % ${BK / 4}u) * 4u;
      ${sm}[buf + k * ${R4}u + r / 4u][r % 4u] = ${reg}.x; ${sm}[buf + (k + 1u) * ${R4}u + r / 4u][r % 4u] = ${reg}.y;
      ${sm}[buf + (k + 2u) * ${R4}u + r / 4u][r % 4u] = ${reg}.z; ${sm}[buf + (k + 3u) * ${R4}u + r / 4u][r % 4u] = ${reg}.w; }`;
  } else if (mode === 'vecMN') {
    // Units of 4 consecutive rows at one k: BK × R/4.
    units = BK * R4;
    fetchOne = (u, reg) => `{ let k = ${u} / ${R4}u; let r = (${u} % ${R4}u) * 4u; let g = ${base} + r; let kk = k0 + k;
      ${reg} = select(${V}(0), ${name}4[(${name}Base + i32(kk) * ${name}SK + i32(g)) / 4], g < ${limMN} && kk < K); }`;
    storeOne = (u, reg) => `{ ${sm}[buf + (${u} / ${R4}u) * ${R4}u + (${u} % ${R4}u)] = ${reg}; }`;
  } else {
    units = R * BK;
    fetchOne = (u, reg) => `{ let k = ${u} % ${BK}u; let r = ${u} / ${BK}u; let g = ${base} + r; let kk = k0 + k;
      ${reg} = select(${T}(0), ${name}1[${name}Base + i32(g) * ${strideMN} + i32(kk) * ${name}SK], g < ${limMN} && kk < K); }`;
    storeOne = (u, reg) => `{ let k = ${u} % ${BK}u; let r = ${u} / ${BK}u; ${sm}[buf + k * ${R4}u + r / 4u][r % 4u] = ${reg}; }`;
  }
  const per = Math.ceil(units / 256);
  let regs = '', fetch = '', store = '';
  for (let j = 0; j < per; j++) {
    const reg = `${name}r${j}`;
    const u = `(tid + ${j * 256}u)`;
    regs += `  var ${reg}: ${mode === 'scalar' ? T : V};\n`;
    const guard = (j + 1) * 256 > units ? `if (${u} < ${units}u) ` : '';
    fetch += `    ${guard}${fetchOne(u, reg)}\n`;
    store += `    ${guard}${storeOne(u, reg)}\n`;
  }
  return { regs, fetch, store };
}

function shader(cfg: TileConfig, modeA: LoadMode, modeB: LoadMode, t: GpuDType, vecOut: boolean, bias: boolean): string {
  const T = wgslType(t);
  const V = `vec4<${T}>`;
  const { TM, TN } = cfg;
  const BM = 16 * TM, BN = 16 * TN;
  const GM = TM / 4, GN = TN / 4; // register groups of 4 rows / 4 cols, 64 apart
  const la = tileLoader('A', modeA, BM, T);
  const lb = tileLoader('B', modeB, BN, T);
  let code = '';
  code += modeA === 'scalar' ? storage(1, 'a1', T, false) : storage(1, 'a4', V, false);
  code += modeB === 'scalar' ? storage(2, 'b1', T, false) : storage(2, 'b4', V, false);
  code += vecOut ? storage(3, 'c4', V, true) : storage(3, 'c1', T, true);
  if (bias) code += storage(4, 'bias', T, false);
  code += `var<workgroup> As: array<${V}, ${2 * BK * (BM / 4)}>;\nvar<workgroup> Bs: array<${V}, ${2 * BK * (BN / 4)}>;\n`;
  // Parameter words (see matmulDispatch): 2 M, 3 N, 4 K, 5 aOff, 6 aSB, 7 aSM, 8 aSK, 9 bOff,
  // 10 bSB, 11 bSK, 12 bSN, 13 biasOff, 14 biasStride, 15 first batch.
  let body = `
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let M = pw(2u); let N = pw(3u); let K = pw(4u);
  let batch = wid.z + pw(15u);
  let aSM = pi(7u); let aSK = pi(8u); let bSK = pi(11u); let bSN = pi(12u);
  let aBase = pi(5u) + i32(batch) * pi(6u);
  let bBase = pi(9u) + i32(batch) * pi(10u);
  let m0 = wid.y * ${BM}u;
  let n0 = wid.x * ${BN}u;
  let tx = lid.x; let ty = lid.y;
${la.regs}${lb.regs}`;
  for (let g = 0; g < GM; g++) for (let e = 0; e < 4; e++) for (let q = 0; q < GN; q++) body += `  var c${g}${e}_${q} = ${V}(0);\n`;
  body += `  let nt = (K + ${BK - 1}u) / ${BK}u;
  if (nt > 0u) {
    let k0 = 0u;
${la.fetch}${lb.fetch}    let buf = 0u;
${la.store}${lb.store}  }
  workgroupBarrier();
  for (var t = 0u; t < nt; t++) {
    let cur = (t & 1u) * ${BK * (BM / 4)}u;
    let curB = (t & 1u) * ${BK * (BN / 4)}u;
    if (t + 1u < nt) {
      let k0 = (t + 1u) * ${BK}u;
${la.fetch}${lb.fetch}    }
`;
  // The k loop is left to the driver to unroll (its bounds are constants): unrolled in the
  // source, an 8x8 tile's shader took llvmpipe 3x longer to compile.
  body += `    for (var kk = 0u; kk < ${BK}u; kk++) {\n`;
  for (let g = 0; g < GM; g++) body += `      let a${g} = As[cur + kk * ${BM / 4}u + ${g * 16}u + ty];\n`;
  for (let q = 0; q < GN; q++) body += `      let b${q} = Bs[curB + kk * ${BN / 4}u + ${q * 16}u + tx];\n`;
  const comp = ['x', 'y', 'z', 'w'];
  for (let g = 0; g < GM; g++) for (let e = 0; e < 4; e++) for (let q = 0; q < GN; q++) body += `      c${g}${e}_${q} += a${g}.${comp[e]} * b${q};\n`;
  body += '    }\n';
  // The next slice goes into the other buffer, last read an iteration ago, behind a barrier.
  body += `    if (t + 1u < nt) {
      let buf = ${BK * (BM / 4)}u - cur;
      let bufA = buf;
${la.store.replace(/buf \+/g, 'bufA +')}      let bufB = ${BK * (BN / 4)}u - curB;
${lb.store.replace(/buf \+/g, 'bufB +')}    }
    workgroupBarrier();
  }
  let cBase = batch * M * N;
`;
  for (let g = 0; g < GM; g++) {
    for (let e = 0; e < 4; e++) {
      body += `  { let m = m0 + ${g * 64 + e}u + ty * 4u;\n    if (m < M) {\n`;
      for (let q = 0; q < GN; q++) {
        const n = `n0 + ${q * 64}u + tx * 4u`;
        let v = `c${g}${e}_${q}`;
        if (bias) {
          body += `      let bn${q} = ${n};\n`;
          const bAt = (j: number) => `select(${T}(0), bias[pi(13u) + i32(bn${q} + ${j}u) * pi(14u)], bn${q} + ${j}u < N)`;
          v = `(${v} + ${V}(${bAt(0)}, ${bAt(1)}, ${bAt(2)}, ${bAt(3)}))`;
        }
        if (vecOut) {
          body += `      { let n = ${n}; if (n < N) { c4[(cBase + m * N + n) / 4u] = ${v}; } }\n`;
        } else {
          body += `      { let n = ${n}; let v = ${v};\n`;
          for (let j = 0; j < 4; j++) body += `        if (n + ${j}u < N) { c1[cBase + m * N + n + ${j}u] = v[${j}]; }\n`;
          body += '      }\n';
        }
      }
      body += '    }\n  }\n';
    }
  }
  body += '}\n';
  return code + body;
}

function tileConfig(M: number, N: number): TileConfig {
  return M >= 128 && N >= 128 ? { TM: 8, TN: 8 } : { TM: 4, TN: 4 };
}

function check3(v: GpuView, what: string): void {
  if (v.shape.length !== 3) throw new ValueError(`webgpu matmul: ${what} must be a [B, rows, cols] view, got shape [${v.shape}]`);
}

/** a [B,M,K] · b [B,K,N] (+ bias [N] on every row) → contiguous [B,M,N] in outDtype. */
function matmulCore(ctx: GpuContext, a: GpuView, b: GpuView, bias: GpuView | null, outDtype: GpuDType, label: string): GpuArray {
  check3(a, 'a');
  check3(b, 'b');
  const [B, M, K] = a.shape;
  const [B2, K2, N] = b.shape;
  if (B !== B2 || K !== K2) throw new ValueError(`webgpu matmul: shapes [${a.shape}] and [${b.shape}] do not multiply (batch and inner dims must agree)`);
  if (a.dtype !== b.dtype) throw new ValueError(`webgpu matmul: operands must share a dtype, got ${a.dtype} and ${b.dtype}`);
  const t = a.dtype;
  const out = ctx.alloc(outDtype, B * M * N);
  if (B * M * N === 0) return out;
  if (outDtype !== t) throw new ValueError(`webgpu matmul: output dtype ${outDtype} must equal the operands' ${t}`);
  const cfg = tileConfig(M, N);
  const BM = 16 * cfg.TM, BN = 16 * cfg.TN;
  const gx = Math.ceil(N / BN), gy = Math.ceil(M / BM);
  if (gx > 65535 || gy > 65535) throw new ValueError(`webgpu matmul: [${M}, ${N}] output needs more than 65535 tiles along one dim`);
  const modeA = loadMode(a.offset, B === 1 ? 0 : a.strides[0], a.strides[1], a.strides[2], M, K, false);
  const modeB = loadMode(b.offset, B === 1 ? 0 : b.strides[0], b.strides[1], b.strides[2], K, N, true);
  const vecOut = N % 4 === 0;
  const code = shader(cfg, modeA, modeB, t, vecOut, bias !== null);
  for (let first = 0; first < B; first += 65535) {
    const p = new Params();
    p.u(M); p.u(N); p.u(K);
    p.i(a.offset); p.i(a.strides[0]); p.i(a.strides[1]); p.i(a.strides[2]);
    p.i(b.offset); p.i(b.strides[0]); p.i(b.strides[1]); p.i(b.strides[2]);
    p.i(bias?.offset ?? 0); p.i(bias?.strides[0] ?? 0);
    p.u(first);
    const buffers = [a.buffer, b.buffer, out.buffer];
    if (bias) buffers.push(bias.buffer);
    ctx.dispatch(`${label}-${cfg.TM}x${cfg.TN}-${modeA}-${modeB}`, code, p, buffers, [gx, gy, Math.min(65535, B - first)]);
  }
  return out;
}

/** Batched matmul: a [B,M,K] · b [B,K,N] → [B,M,N]; batch strides may be 0 (broadcast). */
export function matmul(ctx: GpuContext, a: GpuView, b: GpuView, outDtype: GpuDType = a.dtype): GpuArray {
  return matmulCore(ctx, a, b, null, outDtype, 'matmul');
}

/** torch.nn.functional.linear: x [M,K] · weightᵀ (weight [N,K]) + bias [N] → [M,N]. */
export function linear(ctx: GpuContext, x: GpuView, weight: GpuView, bias: GpuView | null, outDtype: GpuDType = x.dtype): GpuArray {
  if (x.shape.length !== 2 || weight.shape.length !== 2) throw new ValueError(`webgpu linear: expected x [M,K] and weight [N,K], got [${x.shape}] and [${weight.shape}]`);
  const [M, K] = x.shape;
  const [N, K2] = weight.shape;
  if (K !== K2) throw new ValueError(`webgpu linear: x [${x.shape}] and weight [${weight.shape}] disagree on in_features`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== N)) throw new ValueError(`webgpu linear: bias must be [${N}], got [${bias.shape}]`);
  const a: GpuView = { ...x, shape: [1, M, K], strides: [0, x.strides[0], x.strides[1]] };
  const b: GpuView = { ...weight, shape: [1, K, N], strides: [0, weight.strides[1], weight.strides[0]] };
  return matmulCore(ctx, a, b, bias, outDtype, 'linear');
}
