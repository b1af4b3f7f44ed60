// Activations that ONNX spells as small subgraphs of elementwise nodes, recognised back into one
// Nabla layer: GELU below opset 20 (torch.onnx.export's and Nabla's exact form
// x·(1 + Erf(x/√2))·0.5, and the tanh form 0.5·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³)))), SiLU
// (x·Sigmoid(x)) and Softplus with β ≠ 1 (Softplus(β·x)/β). A subgraph with the right shape and a
// wrong constant (a near miss) is refused naming the node, never imported as something else.

import { GELU, SiLU, Softplus, type Module } from '../../nn/index.js';
import { OnnxError } from './errors.js';
import type { OnnxNode } from './schema.js';
import type { Init } from './import.js';
import { shortestFloat32 } from './tensor-data.js';

export interface ActGraph {
  inits: Map<string, Init>;
  /** The nodes reading each value (Constants excluded). */
  users: Map<string, OnnxNode[]>;
  /** Index of a node in the file, for messages. */
  indexOf: (n: OnnxNode) => number;
}

export interface ActMatch {
  layer: Module;
  /** Every node of the subgraph, the start node included; the last one writes the layer's output. */
  nodes: OnnxNode[];
}

const q = JSON.stringify;
const label = (g: ActGraph, n: OnnxNode) => `node ${n.name ? q(n.name) : `#${g.indexOf(n)}`} (${n.opType})`;
const refuse = (msg: string): never => {
  throw new OnnxError('E_ONNX_UNSUPPORTED_OP', msg);
};

/** The one node reading v, if exactly one does and has op `op`. */
function soleUser(g: ActGraph, v: string | undefined, op: string): OnnxNode | undefined {
  const u = v === undefined ? [] : (g.users.get(v) ?? []);
  return u.length === 1 && u[0]!.opType === op ? u[0] : undefined;
}

/** A two-input node's input other than v (v may appear once), or undefined if v is not an input. */
function other(n: OnnxNode, v: string): string | undefined {
  const ins = n.input ?? [];
  if (ins.length !== 2) return undefined;
  if (ins[0] === v) return ins[1];
  if (ins[1] === v) return ins[0];
  return undefined;
}

/** The value of a scalar (one-element) float constant, or undefined if `name` is not one. */
function scalar(g: ActGraph, name: string | undefined): number | undefined {
  const t = name === undefined ? undefined : g.inits.get(name);
  if (!t || !t.isFloat || t.data.length !== 1) return undefined;
  return Number(t.data[0]);
}

/** Checks a constant against what the pattern needs (to float32 precision), else a near-miss refusal. */
function expectConst(g: ActGraph, n: OnnxNode, name: string | undefined, want: number, what: string, pattern: string): void {
  const v = scalar(g, name);
  if (v === undefined) refuse(`${label(g, n)}: ${pattern} needs the constant ${what} = ${want} here, but ${q(name)} is not a scalar float constant`);
  if (Math.abs(v! - want) > 1e-6 * Math.max(1, Math.abs(want))) refuse(`${label(g, n)}: ${pattern} needs the constant ${what} = ${want} here, found ${v}; Nabla does not import this near miss as ${pattern.split(' ')[0]}`);
}

/** The next node of a pattern: the sole reader of `v` with op `op`, else a refusal naming where it broke. */
function step(g: ActGraph, from: OnnxNode, v: string, op: string, pattern: string): OnnxNode {
  const n = soleUser(g, v, op);
  if (!n) {
    const got = (g.users.get(v) ?? []).map((u) => u.opType).join(', ') || 'nothing';
    return refuse(`${label(g, from)} starts ${pattern} but its output feeds ${got}; expected exactly one ${op}`);
  }
  return n;
}

const out0 = (n: OnnxNode) => n.output?.[0] ?? '';

const ERF_PATTERN = 'GELU (Erf form x·(1 + Erf(x/√2))·0.5)';
const TANH_PATTERN = 'GELU (tanh form 0.5·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³))))';

/** x/√2 (Div) or x·(1/√2) (Mul) → Erf → +1 → ·x → ·0.5. */
function geluErf(g: ActGraph, start: OnnxNode, x: string): ActMatch {
  const c = other(start, x);
  expectConst(g, start, c, start.opType === 'Div' ? Math.SQRT2 : Math.SQRT1_2, start.opType === 'Div' ? '√2' : '1/√2', ERF_PATTERN);
  const erf = step(g, start, out0(start), 'Erf', ERF_PATTERN);
  const add = step(g, erf, out0(erf), 'Add', ERF_PATTERN);
  expectConst(g, add, other(add, out0(erf)), 1, 'one', ERF_PATTERN);
  const mx = step(g, add, out0(add), 'Mul', ERF_PATTERN);
  if (other(mx, out0(add)) !== x) refuse(`${label(g, mx)}: ${ERF_PATTERN} multiplies (1 + Erf(...)) by its input ${q(x)} here, found ${q(other(mx, out0(add)))}`);
  const half = step(g, mx, out0(mx), 'Mul', ERF_PATTERN);
  expectConst(g, half, other(half, out0(mx)), 0.5, 'one half', ERF_PATTERN);
  return { layer: new GELU('none'), nodes: [start, erf, add, mx, half] };
}

/** x·x → ·x → ·0.044715 → +x → ·√(2/π) → Tanh → +1 → ·x → ·0.5 (torch 1.13's order). */
function geluTanh(g: ActGraph, start: OnnxNode, x: string): ActMatch {
  const P = TANH_PATTERN;
  const cube = step(g, start, out0(start), 'Mul', P);
  if (other(cube, out0(start)) !== x) refuse(`${label(g, cube)}: ${P} needs x³ = x·(x·x) here, found a product with ${q(other(cube, out0(start)))}`);
  const kap = step(g, cube, out0(cube), 'Mul', P);
  expectConst(g, kap, other(kap, out0(cube)), 0.044715, '0.044715', P);
  const inner = step(g, kap, out0(kap), 'Add', P);
  if (other(inner, out0(kap)) !== x) refuse(`${label(g, inner)}: ${P} needs x + 0.044715·x³ here, found a sum with ${q(other(inner, out0(kap)))}`);
  const beta = step(g, inner, out0(inner), 'Mul', P);
  expectConst(g, beta, other(beta, out0(inner)), Math.sqrt(2 / Math.PI), '√(2/π)', P);
  const th = step(g, beta, out0(beta), 'Tanh', P);
  const one = step(g, th, out0(th), 'Add', P);
  expectConst(g, one, other(one, out0(th)), 1, 'one', P);
  const mx = step(g, one, out0(one), 'Mul', P);
  if (other(mx, out0(one)) !== x) refuse(`${label(g, mx)}: ${P} multiplies (1 + Tanh(...)) by its input ${q(x)} here, found ${q(other(mx, out0(one)))}`);
  const half = step(g, mx, out0(mx), 'Mul', P);
  expectConst(g, half, other(half, out0(mx)), 0.5, 'one half', P);
  return { layer: new GELU('tanh'), nodes: [start, cube, kap, inner, beta, th, one, mx, half] };
}

/**
 * The layer a subgraph starting at `start` (which reads the chain value `x`) stands for, or
 * undefined when `start` does not begin one of these patterns (the caller then maps it alone).
 */
export function matchActivation(g: ActGraph, start: OnnxNode, x: string): ActMatch | undefined {
  const ins = start.input ?? [];
  switch (start.opType) {
    case 'Div':
      if (ins[0] === x && soleUser(g, out0(start), 'Erf')) return geluErf(g, start, x);
      return refuse(`${label(g, start)}: Nabla imports Div only as the x/√2 of GELU's Erf subgraph x·(1 + Erf(x/√2))·0.5, whose Erf must follow`);
    case 'Sigmoid': {
      const m = soleUser(g, out0(start), 'Mul');
      if (m && other(m, out0(start)) === x) return { layer: new SiLU(), nodes: [start, m] };
      return (g.users.get(out0(start)) ?? []).some((u) => u.input?.includes(x)) ? refuse(`${label(g, start)}: its output is combined with its input ${q(x)} in a way other than SiLU's x·Sigmoid(x)`) : undefined;
    }
    case 'Mul': {
      if (ins.length === 2 && ins[0] === x && ins[1] === x) return geluTanh(g, start, x);
      const c = other(start, x);
      if (c === undefined || c === x) break;
      if (soleUser(g, out0(start), 'Erf')) return geluErf(g, start, x);
      const sp = soleUser(g, out0(start), 'Softplus');
      if (sp) {
        // Softplus(β·x)/β: how torch.onnx.export and Nabla write Softplus(beta ≠ 1)
        const b = scalar(g, c);
        const beta = b === undefined ? undefined : shortestFloat32(b);
        if (beta === undefined || beta === 0) refuse(`${label(g, start)}: Softplus(β·x)/β needs a non-zero scalar float β, found ${q(c)}`);
        const div = step(g, sp, out0(sp), 'Div', 'Softplus(β·x)/β');
        if (div.input?.[0] !== out0(sp)) refuse(`${label(g, div)}: Softplus(β·x)/β divides the Softplus output by β here`);
        expectConst(g, div, div.input?.[1], beta!, 'β', 'Softplus(β·x)/β');
        return { layer: new Softplus(beta!, 20), nodes: [start, sp, div] };
      }
      break;
    }
  }
  return undefined;
}
