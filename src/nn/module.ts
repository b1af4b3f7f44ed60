// Module: PyTorch's nn.Module without the registration calls. A module's parameters, buffers and
// children are found by walking its own enumerable properties:
//   Parameter                       → a parameter named after the property
//   Module                          → a child; its members get the prefix `name.`
//   array of Parameters / Modules   → `name.0`, `name.1`, ...
//   Tensor registered with registerBuffer → a buffer (in the state dict unless non-persistent)
// so `this.fc1 = new Linear(...)` in a constructor gives PyTorch's dotted names (`fc1.weight`), and
// state dicts interoperate with PyTorch's (and with safetensors files written from it).
//
// Calling a module: `module.forward(x)`. There is no callable-object trick (a class instance cannot
// be a function without a Proxy or a prototype swap); forward is the call, and hooks, if ever needed,
// go into a `call()` that wraps it. Module<In, Out> types forward's arguments and result: the
// defaults are the common Tensor → Tensor layer; a loss is Module<[Tensor, Tensor]>, an LSTM
// Module<[Tensor, ...], [Tensor, [Tensor, Tensor]]>.

import { noGrad } from '../autograd.js';
import { isDType, isFloat, type DType } from '../dtype.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { copy_, toDType } from '../ops/index.js';
import { fmtShape, shapeEqual } from '../shape.js';
import { Tensor, rebind } from '../tensor.js';
import { toDevice } from '../ops/device.js';
import { StateDictError } from './errors.js';
import { Parameter } from './parameter.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A layer's constructor arguments plus its registry name: what model files store. */
export interface LayerConfig {
  type: string;
  [key: string]: JsonValue;
}

/** PyTorch's ordered state dict: dotted names → tensors, in registration order. */
export type StateDict = Map<string, Tensor>;

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** Any module, whatever its forward's arguments and result: what traversal (children(),
 *  modules(), apply()) hands out. Narrow with instanceof to call a child's forward with types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyModule = Module<any[], unknown>;

// Buffer names per module (name → persistent), kept off the instance so they are not walked.
const bufferNames = new WeakMap<AnyModule, Map<string, boolean>>();

interface Members {
  params: [string, Parameter][];
  buffers: [string, Tensor, boolean][];
  children: [string, AnyModule][];
}

function members(m: AnyModule): Members {
  const out: Members = { params: [], buffers: [], children: [] };
  const bufs = bufferNames.get(m);
  const obj = m as unknown as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (v instanceof Parameter) out.params.push([key, v]);
    else if (v instanceof Module) out.children.push([key, v]);
    else if (v instanceof Tensor) {
      const persistent = bufs?.get(key);
      if (persistent !== undefined) out.buffers.push([key, v, persistent]);
    } else if (Array.isArray(v)) {
      v.forEach((e: unknown, i) => {
        if (e instanceof Parameter) out.params.push([`${key}.${i}`, e]);
        else if (e instanceof Module) out.children.push([`${key}.${i}`, e]);
      });
    }
  }
  return out;
}

const join = (prefix: string, name: string): string => (prefix ? `${prefix}.${name}` : name);

/** The members pick() lists of every module under root, with dotted names, each tensor once (a
 *  tensor shared by several modules keeps its first name). */
function namedOnce<T extends Tensor>(root: AnyModule, prefix: string, pick: (m: Members) => readonly (readonly [string, T, ...unknown[]])[]): [string, T][] {
  const out: [string, T][] = [];
  const seen = new Set<T>();
  for (const [mp, m] of root.namedModules(prefix)) {
    for (const [n, t] of pick(members(m))) {
      if (seen.has(t)) continue;
      seen.add(t);
      out.push([join(mp, n), t]);
    }
  }
  return out;
}

function listKeys(keys: readonly string[], max = 20): string {
  const shown = keys.slice(0, max).map((k) => `"${k}"`).join(', ');
  return keys.length > max ? `${shown} and ${keys.length - max} more` : shown;
}

function checkName(op: string, name: string): void {
  if (typeof name !== 'string' || name === '' || name.includes('.')) {
    throw new ValueError(`${op}: name must be a non-empty string without '.', got ${JSON.stringify(name)}`);
  }
}

/** Rebind t to a converted copy of its values: dtype conversion that keeps object identity (PyTorch's param.data = ...). */
function convertInPlace(t: Tensor, dtype: DType): void {
  if (t.dtype === dtype) return;
  const c = toDType(t.detach(), dtype);
  // Tensor's fields are readonly for users; Module.to is the one place that swaps a tensor's
  // storage, so optimisers and other holders of this Parameter keep working.
  const w = t as unknown as { data: Tensor['data']; strides: readonly number[]; offset: number; dtype: DType };
  w.data = c.data;
  w.strides = c.strides;
  w.offset = c.offset;
  w.dtype = dtype;
  if (t.grad) t.grad = toDType(t.grad.detach(), dtype);
}

/**
 * Base class of layers and models (PyTorch's nn.Module). `In` is the tuple of forward's arguments
 * and `Out` its result; the defaults describe a Tensor → Tensor layer.
 */
export abstract class Module<In extends unknown[] = [Tensor], Out = Tensor> {
  /** Train mode (Dropout drops, BatchNorm uses batch statistics); set with train() / eval(). */
  training = true;

  /** The computation. Calling a module is calling forward: `model.forward(x)`. */
  abstract forward(...args: In): Out;

  /** Constructor arguments and registry type, for model files; null for modules outside the registry. */
  config(): LayerConfig | null {
    return null;
  }

  // ---- registration (plain property assignment does the same; these validate the name) ----

  /** A tensor that is state but not a parameter (BatchNorm's running stats); persistent ones are in stateDict. */
  registerBuffer(name: string, tensor: Tensor, persistent = true): void {
    checkName('registerBuffer', name);
    if (!(tensor instanceof Tensor) || tensor instanceof Parameter) {
      throw new ValueError(`registerBuffer: '${name}' must be a Tensor that is not a Parameter`);
    }
    let names = bufferNames.get(this);
    if (!names) bufferNames.set(this, (names = new Map()));
    names.set(name, persistent);
    (this as unknown as Record<string, unknown>)[name] = tensor;
  }

  registerParameter(name: string, param: Parameter | null): void {
    checkName('registerParameter', name);
    if (param !== null && !(param instanceof Parameter)) throw new ValueError(`registerParameter: '${name}' must be a Parameter or null`);
    (this as unknown as Record<string, unknown>)[name] = param;
  }

  registerModule(name: string, module: AnyModule | null): void {
    checkName('registerModule', name);
    if (module !== null && !(module instanceof Module)) throw new ValueError(`registerModule: '${name}' must be a Module or null`);
    (this as unknown as Record<string, unknown>)[name] = module;
  }

  // ---- traversal ----

  /** Direct children with their property names. */
  namedChildren(): [string, AnyModule][] {
    const seen = new Set<AnyModule>();
    return members(this).children.filter(([, c]) => !seen.has(c) && (seen.add(c), true));
  }

  children(): AnyModule[] {
    return this.namedChildren().map(([, c]) => c);
  }

  /** This module and every descendant, pre-order, each once ('' names this module). */
  namedModules(prefix = ''): [string, AnyModule][] {
    const out: [string, AnyModule][] = [];
    const seen = new Set<AnyModule>();
    const visit = (m: AnyModule, p: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([p, m]);
      for (const [n, c] of members(m).children) visit(c, join(p, n));
    };
    visit(this, prefix);
    return out;
  }

  modules(): AnyModule[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Parameters with dotted names, each once (a shared parameter keeps its first name). */
  namedParameters(prefix = ''): [string, Parameter][] {
    return namedOnce(this, prefix, (m) => m.params);
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Buffers with dotted names, each once (a shared buffer keeps its first name). */
  namedBuffers(prefix = ''): [string, Tensor][] {
    return namedOnce(this, prefix, (m) => m.buffers);
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  /** The module at a dotted path ('' = this); array members count as one name ('blocks.0'). */
  getSubmodule(target: string): AnyModule {
    let m: AnyModule = this;
    let rest = target;
    while (rest !== '') {
      const child = members(m).children.find(([n]) => rest === n || rest.startsWith(`${n}.`));
      if (!child) throw new ValueError(`getSubmodule: ${m.constructor.name} has no submodule at '${rest}' (path '${target}')`);
      m = child[1];
      rest = rest.slice(child[0].length + 1);
    }
    return m;
  }

  /** The parameter at a dotted path, e.g. 'fc1.weight'. */
  getParameter(target: string): Parameter {
    let m: AnyModule = this;
    let rest = target;
    for (;;) {
      const mem = members(m);
      const p = mem.params.find(([n]) => n === rest);
      if (p) return p[1];
      const child = mem.children.find(([n]) => rest.startsWith(`${n}.`));
      if (!child) throw new ValueError(`getParameter: ${m.constructor.name} has no parameter at '${rest}' (path '${target}')`);
      m = child[1];
      rest = rest.slice(child[0].length + 1);
    }
  }

  // ---- modes and gradients ----

  /** Set train mode on this module and every descendant. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Drop every parameter's gradient (PyTorch 2's default set_to_none=true: the next backward allocates fresh ones). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Freeze (false) or unfreeze (true) every parameter. */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad_(requiresGrad);
    return this;
  }

  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    let n = 0;
    for (const p of this.parameters()) if (!opts.trainableOnly || p.requiresGrad) n += p.numel();
    return n;
  }

  /** fn on every descendant, then on this module (post-order, like PyTorch's Module.apply). */
  apply(fn: (m: AnyModule) => void): this {
    const seen = new Set<AnyModule>();
    const visit = (m: AnyModule): void => {
      if (seen.has(m)) return;
      seen.add(m);
      for (const [, c] of members(m).children) visit(c);
      fn(m);
    };
    visit(this);
    return this;
  }

  /**
   * Convert floating-point parameters and buffers (and existing gradients) to dtype, in place:
   * the Parameter objects stay the same, so an optimiser built before still holds them.
   * `to(device)` ('cpu', 'webgpu', ...) moves every parameter, buffer and gradient to that device
   * the same way (PyTorch's module.to(device)); a no-op for those already there.
   */
  to(dtype: DType | string): this {
    if (!isDType(dtype) && !['float16', 'bfloat16', 'int64', 'int8', 'uint8', 'bool'].includes(dtype)) return this.toDevice(dtype);
    if (!isDType(dtype) || !isFloat(dtype)) {
      throw new DTypeError(`Module.to: only floating-point dtypes (float32, float64) are accepted, got ${String(dtype)}`);
    }
    noGrad(() => {
      for (const m of this.modules()) {
        const mem = members(m);
        for (const [, p] of mem.params) convertInPlace(p, dtype);
        for (const [, b] of mem.buffers) if (isFloat(b.dtype)) convertInPlace(b, dtype);
      }
    });
    return this;
  }

  /** Module.to(device): each tensor's storage swapped in place for a copy on the device. */
  private toDevice(device: string): this {
    noGrad(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        if (t.device === device) continue;
        const moved = toDevice(t, device);
        rebind(t, moved.storage, moved.strides, moved.offset);
        if (t.grad) t.grad = toDevice(t.grad.detach(), device);
      }
    });
    return this;
  }

  double(): this {
    return this.to('float64');
  }

  float(): this {
    return this.to('float32');
  }

  // ---- state dict ----

  /** name → the live tensor (parameter or persistent buffer), PyTorch's state_dict order. */
  private stateEntries(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const path = new Set<AnyModule>();
    const visit = (m: AnyModule, prefix: string): void => {
      path.add(m);
      const mem = members(m);
      for (const [n, p] of mem.params) out.set(join(prefix, n), p);
      for (const [n, b, persistent] of mem.buffers) if (persistent) out.set(join(prefix, n), b);
      for (const [n, c] of mem.children) if (!path.has(c)) visit(c, join(prefix, n));
      path.delete(m);
    };
    visit(this, '');
    return out;
  }

  /**
   * Parameters and persistent buffers by dotted name, in registration order. Values are detached
   * views sharing storage with the model (as in PyTorch): clone them to keep a snapshot across
   * training steps.
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [k, t] of this.stateEntries()) out.set(k, t.detach());
    return out;
  }

  /**
   * Copy values into the model's own tensors (identity kept). Everything is checked before
   * anything is written: with strict, missing or unexpected keys throw StateDictError; a shape
   * mismatch throws ShapeError and a dtype mismatch DTypeError, naming every key involved.
   */
  loadStateDict(stateDict: StateDict | Readonly<Record<string, Tensor>>, opts: { strict?: boolean } = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const src = stateDict instanceof Map ? stateDict : new Map(Object.entries(stateDict));
    const own = this.stateEntries();
    const missingKeys = [...own.keys()].filter((k) => !src.has(k));
    const unexpectedKeys = [...src.keys()].filter((k) => !own.has(k));
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts: string[] = [];
      if (missingKeys.length) parts.push(`missing key(s) in state dict: ${listKeys(missingKeys)}`);
      if (unexpectedKeys.length) parts.push(`unexpected key(s) in state dict: ${listKeys(unexpectedKeys)}`);
      throw new StateDictError(`loadStateDict: error(s) loading state dict for ${this.constructor.name}: ${parts.join('; ')}`, missingKeys, unexpectedKeys);
    }
    const pairs: [Tensor, Tensor][] = [];
    const shapeErrs: string[] = [];
    const dtypeErrs: string[] = [];
    for (const [k, dst] of own) {
      const v = src.get(k);
      if (v === undefined) continue;
      if (!(v instanceof Tensor)) throw new ValueError(`loadStateDict: the value for '${k}' is not a Tensor`);
      if (!shapeEqual(v.shape, dst.shape)) {
        shapeErrs.push(`'${k}': the state dict has shape ${fmtShape(v.shape)}, the model ${fmtShape(dst.shape)}`);
      } else if (v.dtype !== dst.dtype) {
        dtypeErrs.push(`'${k}': the state dict has dtype ${v.dtype}, the model ${dst.dtype}`);
      }
      pairs.push([dst, v]);
    }
    if (shapeErrs.length) throw new ShapeError(`loadStateDict: size mismatch for ${this.constructor.name}: ${shapeErrs.join('; ')}`);
    if (dtypeErrs.length) {
      throw new DTypeError(`loadStateDict: dtype mismatch for ${this.constructor.name}: ${dtypeErrs.join('; ')} (convert the model with .to(dtype) first)`);
    }
    noGrad(() => {
      for (const [dst, v] of pairs) if (dst.numel() > 0) copy_(dst, v);
    });
    return { missingKeys, unexpectedKeys };
  }

  // ---- printing ----

  /** The arguments shown between the parentheses of toString(). */
  extraRepr(): string {
    const cfg = this.config();
    if (!cfg) return '';
    return Object.entries(cfg)
      .filter(([k, v]) => k !== 'type' && k !== 'layers' && v !== undefined)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(', ');
  }

  toString(): string {
    const kids = members(this).children;
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (kids.length === 0) return `${head})`;
    const lines = kids.map(([n, c]) => `  (${n}): ${c.toString().split('\n').join('\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}

/** The JSON architecture description of a module built from registry layers (see buildModule). */
export function describe(module: AnyModule): LayerConfig {
  if (!(module instanceof Module)) throw new ValueError('describe: expected a Module');
  const cfg = module.config();
  if (cfg === null) {
    throw new ValueError(
      `describe: ${module.constructor.name} is not a built-in layer (it has no config()); model files can only ` +
        'describe models made of Sequential and the built-in layers',
    );
  }
  return cfg;
}
