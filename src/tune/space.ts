// A hyper-parameter search space read from JSON: each key names a `nabla train` setting (lr,
// batchSize, dropout, ...) and says how to draw it. Conditional parameters (`when`) exist only
// when other parameters have given values, as in Optuna's define-by-run spaces or Hyperopt's
// nested choices. Parsing checks every field and names the one that is wrong.

import { NablaError } from '../errors.js';
import type { Generator } from '../random.js';

export class SpaceError extends NablaError {
  constructor(message: string) {
    super('E_TUNE_SPACE', message);
  }
}

export type ParamValue = number | string | boolean;
export type Params = Record<string, ParamValue>;

interface Common {
  /** Present only when each named parameter has one of the listed values. */
  when?: Record<string, ParamValue[]>;
}
export type ParamSpec =
  | (Common & { type: 'uniform'; low: number; high: number; gridPoints: number })
  | (Common & { type: 'loguniform'; low: number; high: number; gridPoints: number })
  | (Common & { type: 'int'; low: number; high: number; step: number; log: boolean })
  | (Common & { type: 'choice'; values: ParamValue[] });

export interface Space {
  /** In file order, which is the order parameters are drawn (conditions refer to earlier ones). */
  readonly names: readonly string[];
  readonly specs: Readonly<Record<string, ParamSpec>>;
}

const TYPES = ['uniform', 'loguniform', 'int', 'choice'];
const NAME = /^[a-zA-Z][a-zA-Z0-9]*$/;

function num(where: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new SpaceError(`${where}.${field}: expected a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function checkKeys(where: string, o: Record<string, unknown>, allowed: string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new SpaceError(`${where}: unknown field '${k}' (expected ${allowed.join(', ')})`);
  }
}

function parseSpec(name: string, raw: unknown, earlier: ReadonlySet<string>): ParamSpec {
  const where = `space.${name}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SpaceError(`${where}: expected an object like {"type": "uniform", "low": 0, "high": 1}`);
  const o = raw as Record<string, unknown>;
  if (typeof o.type !== 'string' || !TYPES.includes(o.type)) throw new SpaceError(`${where}.type: expected one of ${TYPES.join(', ')}, got ${JSON.stringify(o.type)}`);
  let when: ParamSpec['when'];
  if (o.when !== undefined) {
    if (typeof o.when !== 'object' || o.when === null || Array.isArray(o.when)) throw new SpaceError(`${where}.when: expected an object {"param": [values...]}`);
    when = {};
    for (const [k, v] of Object.entries(o.when as Record<string, unknown>)) {
      if (!earlier.has(k)) throw new SpaceError(`${where}.when.${k}: conditions may only name parameters defined before '${name}'`);
      const vals = Array.isArray(v) ? v : [v];
      if (vals.length === 0 || !vals.every((x) => ['number', 'string', 'boolean'].includes(typeof x))) throw new SpaceError(`${where}.when.${k}: expected a value or a non-empty list of values`);
      when[k] = vals as ParamValue[];
    }
  }
  switch (o.type) {
    case 'uniform':
    case 'loguniform': {
      checkKeys(where, o, ['type', 'low', 'high', 'gridPoints', 'when']);
      const low = num(where, 'low', o.low), high = num(where, 'high', o.high);
      if (!(low < high)) throw new SpaceError(`${where}: low (${low}) must be less than high (${high})`);
      if (o.type === 'loguniform' && low <= 0) throw new SpaceError(`${where}.low: a loguniform range must be positive, got ${low}`);
      const gridPoints = o.gridPoints === undefined ? 3 : num(where, 'gridPoints', o.gridPoints);
      if (!Number.isInteger(gridPoints) || gridPoints < 1) throw new SpaceError(`${where}.gridPoints: expected a positive integer, got ${gridPoints}`);
      return { type: o.type, low, high, gridPoints, when };
    }
    case 'int': {
      checkKeys(where, o, ['type', 'low', 'high', 'step', 'log', 'when']);
      const low = num(where, 'low', o.low), high = num(where, 'high', o.high);
      if (!Number.isInteger(low) || !Number.isInteger(high) || low > high) throw new SpaceError(`${where}: expected integers low ≤ high, got ${low}, ${high}`);
      const step = o.step === undefined ? 1 : num(where, 'step', o.step);
      if (!Number.isInteger(step) || step < 1) throw new SpaceError(`${where}.step: expected a positive integer, got ${step}`);
      if (o.log !== undefined && typeof o.log !== 'boolean') throw new SpaceError(`${where}.log: expected true or false`);
      const log = o.log === true;
      if (log && low < 1) throw new SpaceError(`${where}.low: a log-scaled int range must start at 1 or more, got ${low}`);
      return { type: 'int', low, high, step, log, when };
    }
    default: {
      checkKeys(where, o, ['type', 'values', 'when']);
      if (!Array.isArray(o.values) || o.values.length === 0) throw new SpaceError(`${where}.values: expected a non-empty list`);
      for (const v of o.values) {
        if (!['number', 'string', 'boolean'].includes(typeof v)) throw new SpaceError(`${where}.values: only numbers, strings and booleans are allowed, got ${JSON.stringify(v)}`);
      }
      return { type: 'choice', values: o.values as ParamValue[], when };
    }
  }
}

/** Parses and checks a space (the JSON text's object). */
export function parseSpace(raw: unknown, source = 'space'): Space {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SpaceError(`${source}: expected a JSON object mapping parameter names to their distributions`);
  const names: string[] = [];
  const specs: Record<string, ParamSpec> = {};
  const seen = new Set<string>();
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!NAME.test(name)) throw new SpaceError(`${source}: parameter name '${name}' must be a camelCase identifier (a \`nabla train\` setting such as lr, batchSize, dropout)`);
    specs[name] = parseSpec(name, v, seen);
    names.push(name);
    seen.add(name);
  }
  if (names.length === 0) throw new SpaceError(`${source}: the space has no parameters`);
  return { names, specs };
}

/** Whether a parameter exists given the values drawn so far. */
export function isActive(spec: ParamSpec, drawn: Params): boolean {
  if (!spec.when) return true;
  return Object.entries(spec.when).every(([k, vals]) => k in drawn && vals.includes(drawn[k]));
}

function snapInt(spec: Extract<ParamSpec, { type: 'int' }>, x: number): number {
  const k = Math.round((x - spec.low) / spec.step);
  const maxK = Math.floor((spec.high - spec.low) / spec.step);
  return spec.low + Math.min(maxK, Math.max(0, k)) * spec.step;
}

/** One value of a parameter, uniform in its (log-)scale. */
export function sampleParam(spec: ParamSpec, g: Generator): ParamValue {
  const u = g.random();
  switch (spec.type) {
    case 'uniform':
      return spec.low + u * (spec.high - spec.low);
    case 'loguniform':
      return Math.exp(Math.log(spec.low) + u * (Math.log(spec.high) - Math.log(spec.low)));
    case 'int':
      if (spec.log) return snapInt(spec, Math.floor(Math.exp(Math.log(spec.low) + u * (Math.log(spec.high + 1) - Math.log(spec.low)))));
      return snapInt(spec, spec.low - 0.5 + u * (spec.high - spec.low + 1));
    case 'choice':
      return spec.values[Math.min(spec.values.length - 1, Math.floor(u * spec.values.length))];
  }
}

/** Random search: each active parameter drawn independently. */
export function sampleRandom(space: Space, g: Generator): Params {
  const p: Params = {};
  for (const name of space.names) {
    const spec = space.specs[name];
    if (isActive(spec, p)) p[name] = sampleParam(spec, g);
  }
  return p;
}

/** The grid values of one parameter: choices as listed, ranges at evenly spaced points. */
export function gridValues(spec: ParamSpec): ParamValue[] {
  switch (spec.type) {
    case 'choice':
      return spec.values;
    case 'int': {
      const out: number[] = [];
      for (let v = spec.low; v <= spec.high; v += spec.step) out.push(v);
      return out;
    }
    default: {
      const n = spec.gridPoints;
      if (n === 1) return [spec.type === 'loguniform' ? Math.sqrt(spec.low * spec.high) : (spec.low + spec.high) / 2];
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = i / (n - 1);
        out.push(spec.type === 'loguniform' ? Math.exp(Math.log(spec.low) + t * (Math.log(spec.high) - Math.log(spec.low))) : spec.low + t * (spec.high - spec.low));
      }
      return out;
    }
  }
}

/** Every point of the grid (conditional parameters only where active), in a fixed order. */
export function gridPoints(space: Space): Params[] {
  let points: Params[] = [{}];
  for (const name of space.names) {
    const spec = space.specs[name];
    const next: Params[] = [];
    for (const p of points) {
      if (!isActive(spec, p)) {
        next.push(p);
        continue;
      }
      for (const v of gridValues(spec)) next.push({ ...p, [name]: v });
    }
    points = next;
    if (points.length > 1_000_000) throw new SpaceError(`the grid has more than 1,000,000 points; lower gridPoints or use --algo random|tpe`);
  }
  return points;
}
