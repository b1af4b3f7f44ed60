// The Optimizer base: parameter groups, lazily created per-parameter state, step/zeroGrad and a
// state dict in PyTorch's shape. A concrete optimiser only writes initState(param) and
// update(param, grad, state, hyper) (MLX's split); the base owns everything else.
//
// State dict representation (what a checkpoint writer saves):
//   { state: { "<param index>": { <name>: Tensor | number, ... } },
//     paramGroups: [ { params: [<param index>, ...], lr, ...hyper-parameters } ] }
// Parameter indices count through the groups in order, as in PyTorch. State entry names are
// PyTorch's (exp_avg, momentum_buffer, ...) so they line up with torch checkpoints; hyper-parameter
// names are ours (camelCase, as given to the constructor). Tensors are snapshots (copies), so the
// dict stays valid while training goes on. flattenStateDict() splits it into named tensors
// ("optimizer.state.0.exp_avg", for safetensors) plus a JSON-serialisable rest, and
// unflattenStateDict() reverses that.

import { enableGrad, noGrad } from '../autograd.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { add, div, mul } from '../ops/elementwise.js';
import { copy_, zero_ } from '../ops/inplace.js';
import { fmtShape, shapeEqual } from '../shape.js';
import { Tensor, zeros } from '../tensor.js';

/** A JSON-serialisable hyper-parameter value. */
export type HyperValue = number | boolean | string | readonly number[] | readonly HyperValue[] | null;

/** Every optimiser has a learning rate; schedulers read and write it. */
export interface BaseHyper {
  lr: number;
}

/** A parameter group as the optimiser holds it: its tensors plus a full set of hyper-parameters.
 *  `initialLr` is set by the first LR scheduler attached (PyTorch's initial_lr). */
export type ParamGroup<H extends BaseHyper = BaseHyper> = H & { params: Tensor[]; initialLr?: number };

/** A parameter group as given to a constructor: missing hyper-parameters take the defaults. */
export type ParamGroupInput<H extends BaseHyper = BaseHyper> = Partial<H> & { params: Iterable<Tensor> };

export type ParamsInput<H extends BaseHyper = BaseHyper> = Iterable<Tensor> | Iterable<ParamGroupInput<H>>;

/** Per-parameter state: moment tensors (the parameter's shape) and counters. */
export type ParamState = Record<string, Tensor | number | undefined>;

export interface OptimizerStateDict {
  state: Record<string, Record<string, Tensor | number>>;
  paramGroups: (Record<string, HyperValue> & { params: number[] })[];
}

/** A state dict split for a checkpoint: named tensors, and everything else as plain JSON. */
export interface FlatOptimizerState {
  tensors: Record<string, Tensor>;
  meta: {
    state: Record<string, Record<string, number>>;
    paramGroups: (Record<string, HyperValue> & { params: number[] })[];
  };
}

/** A contiguous copy with no graph; used for momentum buffers and state snapshots. */
export function cloneTensor(t: Tensor, dtype = t.dtype): Tensor {
  return copy_(zeros(t.shape, { dtype, device: t.device }), t.detach());
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? `an object (${(x as object).constructor?.name ?? 'Object'})` : `${typeof x} ${String(x)}`;
}

export abstract class Optimizer<H extends BaseHyper = BaseHyper, S extends ParamState = ParamState> {
  readonly defaults: Readonly<H>;
  readonly paramGroups: ParamGroup<H>[] = [];
  /** Per-parameter state, created on the parameter's first update. */
  readonly state = new Map<Tensor, S>();
  // True while the constructor adds a plain tensor list, so errors say params[i], not paramGroups[0].params[i].
  private plainList = false;

  constructor(params: ParamsInput<H>, defaults: H) {
    this.defaults = { ...defaults };
    this.validate(this.defaults, 'defaults');
    if (params instanceof Tensor || params === null || typeof params !== 'object' || !(Symbol.iterator in params)) {
      throw new DTypeError(`${this.name}: params must be an iterable of tensors or of parameter groups, got ${describe(params)}${params instanceof Tensor ? ' (wrap a single tensor in an array)' : ''}`);
    }
    const items = [...(params as Iterable<unknown>)];
    if (items.length === 0) throw new ValueError(`${this.name}: got an empty parameter list; pass at least one tensor`);
    const isGroup = (x: unknown): boolean => typeof x === 'object' && x !== null && !(x instanceof Tensor) && 'params' in x;
    if (isGroup(items[0])) {
      items.forEach((g, i) => {
        if (!isGroup(g)) throw new DTypeError(`${this.name}: paramGroups[${i}] must be an object with a 'params' field (all entries must be groups when the first is), got ${describe(g)}`);
        this.addParamGroup(g as ParamGroupInput<H>);
      });
    } else {
      this.plainList = true;
      this.addParamGroup({ params: items as Tensor[] } as unknown as ParamGroupInput<H>);
      this.plainList = false;
    }
  }

  /** The class name, for error messages. */
  get name(): string {
    return this.constructor.name;
  }

  /** Fresh state for a parameter (zero moments, step 0). */
  protected abstract initState(param: Tensor, group: ParamGroup<H>): S;
  /** One update of `param` in place from `grad`; mutates `state` in place as well. */
  protected abstract update(param: Tensor, grad: Tensor, state: S, group: ParamGroup<H>): void;
  /** Throw a ValueError naming the field when a hyper-parameter is out of range. */
  protected abstract validate(hyper: Readonly<H>, where: string): void;

  /** PyTorch's add_param_group: a new group, hyper-parameters defaulting to the constructor's. */
  addParamGroup(input: ParamGroupInput<H>): void {
    const gi = this.paramGroups.length;
    const where = `paramGroups[${gi}]`;
    const { params: raw, ...hyper } = input;
    if (raw === null || typeof raw !== 'object' || !(Symbol.iterator in raw) || raw instanceof Tensor) {
      throw new DTypeError(`${this.name}: ${where}.params must be an iterable of tensors, got ${describe(raw)}`);
    }
    const params = [...raw];
    if (params.length === 0) throw new ValueError(`${this.name}: ${where} has an empty parameter list`);
    const seen = new Set<Tensor>();
    for (const g of this.paramGroups) for (const p of g.params) seen.add(p);
    params.forEach((p: unknown, i) => {
      const at = this.plainList ? `params[${i}]` : `${where}.params[${i}]`;
      if (!(p instanceof Tensor)) throw new DTypeError(`${this.name}: ${at} must be a Tensor, got ${describe(p)}`);
      if (!p.requiresGrad) throw new ValueError(`${this.name}: ${at} (shape ${fmtShape(p.shape)}) does not require grad; only tensors with requiresGrad can be optimised`);
      if (!p.isLeaf) throw new ValueError(`${this.name}: ${at} (shape ${fmtShape(p.shape)}) is not a leaf tensor (it has a gradFn); optimise the leaf it was computed from`);
      if (seen.has(p)) throw new ValueError(`${this.name}: ${at} appears more than once across the parameter groups`);
      seen.add(p);
    });
    for (const k of Object.keys(hyper)) {
      if (!(k in this.defaults)) throw new ValueError(`${this.name}: ${where} has an unknown hyper-parameter '${k}'; known: ${Object.keys(this.defaults).join(', ')}`);
    }
    const group = { ...this.defaults, ...hyper, params } as ParamGroup<H>;
    this.validate(group, where);
    this.paramGroups.push(group);
  }

  /** Update every parameter that has a gradient. With a closure, re-evaluate the loss first
   *  (under gradient recording) and return it, as PyTorch's step(closure) does. */
  step<T = undefined>(closure?: () => T): T | undefined {
    const loss = closure ? enableGrad(closure) : undefined;
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          if (p.grad === null) continue;
          let s = this.state.get(p);
          if (!s) {
            s = this.initState(p, group);
            this.state.set(p, s);
          }
          this.update(p, p.grad, s, group);
        }
      }
    });
    return loss;
  }

  /** Clear gradients: drop them (default, saves memory and skips the update) or zero them. */
  zeroGrad({ setToNone = true }: { setToNone?: boolean } = {}): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        if (setToNone) {
          p.grad = null;
        } else {
          if (p.grad.requiresGrad) p.grad = p.grad.detach();
          noGrad(() => zero_(p.grad!));
        }
      }
    }
  }

  /** Every parameter in group order; the index is the parameter's id in the state dict. */
  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** A snapshot of the optimiser: per-parameter state (tensors copied) and group hyper-parameters. */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    this.allParams().forEach((p, i) => index.set(p, i));
    const state: OptimizerStateDict['state'] = {};
    for (const [p, s] of this.state) {
      const entry: Record<string, Tensor | number> = {};
      for (const [k, v] of Object.entries(s)) {
        if (v === undefined) continue;
        entry[k] = v instanceof Tensor ? noGrad(() => cloneTensor(v)) : v;
      }
      state[String(index.get(p))] = entry;
    }
    let next = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...hyper } = g;
      const copy = JSON.parse(JSON.stringify(hyper)) as Record<string, HyperValue>;
      return { ...copy, params: params.map(() => next++) };
    });
    return { state, paramGroups };
  }

  /** Restore a stateDict(): group and parameter counts and state shapes must match this optimiser.
   *  Tensors are copied and cast to their parameter's dtype; hyper-parameters are re-validated. */
  loadStateDict(sd: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    if (typeof sd !== 'object' || sd === null || typeof sd.state !== 'object' || sd.state === null || !Array.isArray(sd.paramGroups)) {
      throw new ValueError(`${where}: expected {state: {...}, paramGroups: [...]}, got ${describe(sd)}`);
    }
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new ValueError(`${where}: the state dict has ${sd.paramGroups.length} parameter groups, this optimizer has ${this.paramGroups.length}`);
    }
    const byId = new Map<number, { param: Tensor; group: ParamGroup<H> }>();
    const newHyper: ParamGroup<H>[] = [];
    sd.paramGroups.forEach((saved, gi) => {
      const group = this.paramGroups[gi];
      if (!Array.isArray(saved.params) || saved.params.length !== group.params.length) {
        const n = Array.isArray(saved.params) ? saved.params.length : 'no';
        throw new ValueError(`${where}: parameter group ${gi} has ${n} parameters in the state dict but ${group.params.length} in this optimizer`);
      }
      const { params: ids, ...hyper } = saved;
      for (const k of Object.keys(hyper)) {
        if (!(k in this.defaults) && k !== 'initialLr') throw new ValueError(`${where}: parameter group ${gi} has an unknown hyper-parameter '${k}'`);
      }
      const merged = { ...group, ...(JSON.parse(JSON.stringify(hyper)) as Partial<H>), params: group.params } as ParamGroup<H>;
      this.validate(merged, `${where} paramGroups[${gi}]`);
      newHyper.push(merged);
      ids.forEach((id, i) => byId.set(id, { param: group.params[i], group: merged }));
    });
    const newState = new Map<Tensor, S>();
    for (const [key, entry] of Object.entries(sd.state)) {
      const target = byId.get(Number(key));
      if (!target) throw new ValueError(`${where}: state entry '${key}' does not name a parameter of any group`);
      const { param } = target;
      const s: Record<string, Tensor | number> = {};
      for (const [k, v] of Object.entries(entry)) {
        if (v instanceof Tensor) {
          if (!shapeEqual(v.shape, param.shape)) {
            throw new ShapeError(`${where}: state '${key}.${k}' has shape ${fmtShape(v.shape)} but parameter ${key} has shape ${fmtShape(param.shape)}`);
          }
          s[k] = noGrad(() => cloneTensor(v, param.dtype));
        } else if (typeof v === 'number') {
          s[k] = v;
        } else {
          throw new ValueError(`${where}: state '${key}.${k}' must be a Tensor or a number, got ${describe(v)}`);
        }
      }
      newState.set(param, s as S);
    }
    // Commit only after everything has been checked, so a bad dict leaves the optimiser untouched.
    newHyper.forEach((g, gi) => Object.assign(this.paramGroups[gi], g));
    this.state.clear();
    for (const [p, s] of newState) this.state.set(p, s);
  }
}

/** Split a state dict into named tensors (`<prefix>.state.<i>.<name>`) and a JSON rest. */
export function flattenStateDict(sd: OptimizerStateDict, prefix = 'optimizer'): FlatOptimizerState {
  const tensors: Record<string, Tensor> = {};
  const state: Record<string, Record<string, number>> = {};
  for (const [i, entry] of Object.entries(sd.state)) {
    state[i] = {};
    for (const [k, v] of Object.entries(entry)) {
      if (v instanceof Tensor) tensors[`${prefix}.state.${i}.${k}`] = v;
      else state[i][k] = v;
    }
  }
  return { tensors, meta: { state, paramGroups: sd.paramGroups } };
}

/** Inverse of flattenStateDict. Tensor names not under `<prefix>.state.` are ignored, so the
 *  tensors of a whole checkpoint (model weights too) can be passed as they are. */
export function unflattenStateDict(flat: FlatOptimizerState, prefix = 'optimizer'): OptimizerStateDict {
  const state: OptimizerStateDict['state'] = {};
  for (const [i, entry] of Object.entries(flat.meta.state)) state[i] = { ...entry };
  const head = `${prefix}.state.`;
  for (const [name, t] of Object.entries(flat.tensors)) {
    if (!name.startsWith(head)) continue;
    const rest = name.slice(head.length);
    const dot = rest.indexOf('.');
    if (dot <= 0 || !/^\d+$/.test(rest.slice(0, dot))) throw new ValueError(`unflattenStateDict: tensor name '${name}' is not of the form ${head}<index>.<name>`);
    const i = rest.slice(0, dot);
    (state[i] ??= {})[rest.slice(dot + 1)] = t;
  }
  return { state, paramGroups: flat.meta.paramGroups };
}

// ---- in-place updates in PyTorch's evaluation order (used under noGrad) ------------------

/** x += value·a·b, evaluated as (value·a)·b like torch.addcmul_. */
export function addcmul_(x: Tensor, a: Tensor, b: Tensor, value = 1): Tensor {
  return copy_(x, add(x.detach(), mul(value === 1 ? a : mul(a, value), b)));
}

/** x += value·a/b, evaluated as (value·a)/b like torch.addcdiv_. */
export function addcdiv_(x: Tensor, a: Tensor, b: Tensor, value = 1): Tensor {
  return copy_(x, add(x.detach(), div(value === 1 ? a : mul(a, value), b)));
}

// ---- hyper-parameter checks shared by the optimisers --------------------------------------

export function checkNonNegative(opt: string, where: string, name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new ValueError(`${opt}: invalid ${name} ${String(v)} in ${where}; expected a finite number >= 0`);
  }
}

export function checkBoolean(opt: string, where: string, name: string, v: unknown): void {
  if (typeof v !== 'boolean') throw new ValueError(`${opt}: invalid ${name} ${String(v)} in ${where}; expected true or false`);
}

export function checkBetas(opt: string, where: string, betas: unknown): void {
  if (!Array.isArray(betas) || betas.length !== 2) {
    throw new ValueError(`${opt}: invalid betas ${JSON.stringify(betas)} in ${where}; expected [beta1, beta2]`);
  }
  betas.forEach((b, i) => {
    if (typeof b !== 'number' || !(b >= 0 && b < 1)) {
      throw new ValueError(`${opt}: invalid beta parameter at index ${i}: ${String(b)} in ${where}; expected 0 <= beta < 1`);
    }
  });
}
