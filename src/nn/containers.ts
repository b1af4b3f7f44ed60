// ModuleList and ModuleDict: registered children without a forward of their own (PyTorch's).
// ModuleList keeps its children under "0", "1", ... and ModuleDict under their keys, so state-dict
// names are PyTorch's (`layers.0.weight`, `heads.cls.weight`).

import { IndexError, ValueError } from '../errors.js';
import { Module } from './module.js';

function noForward(name: string): never {
  throw new ValueError(`${name} has no forward: iterate over it and call each module's forward`);
}

function checkModule(op: string, m: unknown): asserts m is Module {
  if (!(m instanceof Module)) throw new ValueError(`${op}: expected a Module, got ${m === null ? 'null' : typeof m}`);
}

export class ModuleList extends Module {
  [index: number]: Module;

  constructor(modules: Iterable<Module> = []) {
    super();
    this.extend(modules);
  }

  get length(): number {
    let n = 0;
    while (Object.prototype.hasOwnProperty.call(this, n)) n++;
    return n;
  }

  append(module: Module): this {
    checkModule('ModuleList.append', module);
    this[this.length] = module;
    return this;
  }

  extend(modules: Iterable<Module>): this {
    for (const m of modules) this.append(m);
    return this;
  }

  /** The i-th module; negative i counts from the end. */
  at(i: number): Module {
    const n = this.length;
    if (!Number.isInteger(i) || i < -n || i >= n) throw new IndexError(`ModuleList.at: index ${i} is out of range for ${n} modules`);
    return this[i < 0 ? i + n : i];
  }

  *[Symbol.iterator](): Iterator<Module> {
    const n = this.length;
    for (let i = 0; i < n; i++) yield this[i];
  }

  override forward(): never {
    return noForward('ModuleList');
  }
}

// Names a ModuleDict key may not take: they would shadow the Module API or ModuleDict's own.
const RESERVED = new Set<string>(['keyOrder']);

export class ModuleDict extends Module {
  // Insertion order (JS objects list integer-like keys first, PyTorch keeps insertion order).
  private readonly keyOrder: string[] = [];

  constructor(modules: Iterable<[string, Module]> | Record<string, Module> = {}) {
    super();
    Object.defineProperty(this, 'keyOrder', { enumerable: false });
    const entries = Symbol.iterator in Object(modules) ? [...(modules as Iterable<[string, Module]>)] : Object.entries(modules);
    for (const [k, m] of entries) this.set(k, m);
  }

  /** Adds or replaces the module under key. */
  set(key: string, module: Module): this {
    if (typeof key !== 'string' || key === '' || key.includes('.')) throw new ValueError(`ModuleDict: key must be a non-empty string without '.', got ${JSON.stringify(key)}`);
    if (RESERVED.has(key) || (key in this && !this.keyOrder.includes(key))) {
      throw new ValueError(`ModuleDict: key '${key}' would shadow a property of the module; choose another name`);
    }
    checkModule(`ModuleDict.set('${key}')`, module);
    if (!this.keyOrder.includes(key)) this.keyOrder.push(key);
    (this as unknown as Record<string, Module>)[key] = module;
    return this;
  }

  get(key: string): Module {
    if (!this.has(key)) throw new ValueError(`ModuleDict: no module under key '${key}'; keys: ${this.keyOrder.join(', ')}`);
    return (this as unknown as Record<string, Module>)[key];
  }

  has(key: string): boolean {
    return this.keyOrder.includes(key);
  }

  delete(key: string): boolean {
    const i = this.keyOrder.indexOf(key);
    if (i < 0) return false;
    this.keyOrder.splice(i, 1);
    delete (this as unknown as Record<string, Module>)[key];
    return true;
  }

  keys(): string[] {
    return [...this.keyOrder];
  }

  values(): Module[] {
    return this.keyOrder.map((k) => this.get(k));
  }

  entries(): [string, Module][] {
    return this.keyOrder.map((k) => [k, this.get(k)]);
  }

  get size(): number {
    return this.keyOrder.length;
  }

  override forward(): never {
    return noForward('ModuleDict');
  }
}
