// `registry:NAME@STAGE` (or `registry:NAME@VERSION`, optionally `alias=registry:...`) on `nabla
// serve`'s command line: resolved to the registered model directory through the tracking store,
// and watched: the store's registry counter is polled, and when the version in that stage changes
// the server reloads the model from the new directory (the old version keeps answering until the
// new one is loaded and warmed, as for any reload).

import { existsSync } from 'node:fs';
import { NablaError } from '../errors.js';
import { MODEL_NAME_RE } from '../serve/oip.js';
import { TrackingStore, type ModelVersionRow } from './store.js';

export const REGISTRY_PREFIX = 'registry:';

export class RegistryError extends NablaError {
  constructor(message: string) {
    super('E_REGISTRY', message);
  }
}

export interface RegistryRef {
  /** Name the server uses (the alias, else the registered name). */
  serveName: string;
  model: string;
  /** A stage ('production', 'staging', ...) or a version number. */
  ref: string;
}

/** Parses `[alias=]registry:NAME@REF`; undefined for anything else (a plain model directory). */
export function parseRegistryRef(spec: string): RegistryRef | undefined {
  const eq = spec.indexOf('=');
  const alias = eq > 0 && spec.slice(eq + 1).startsWith(REGISTRY_PREFIX) ? spec.slice(0, eq) : undefined;
  const body = alias !== undefined ? spec.slice(eq + 1) : spec;
  if (!body.startsWith(REGISTRY_PREFIX)) return undefined;
  const m = /^([^@]+)@(production|staging|archived|none|\d+)$/.exec(body.slice(REGISTRY_PREFIX.length));
  if (!m || !MODEL_NAME_RE.test(m[1]!)) {
    throw new RegistryError(`${spec}: expected registry:NAME@STAGE (production, staging, archived) or registry:NAME@VERSION, with NAME from [A-Za-z0-9_.-]`);
  }
  if (alias !== undefined && !MODEL_NAME_RE.test(alias)) throw new RegistryError(`${spec}: the name before '=' must match [A-Za-z0-9][A-Za-z0-9_.-]*`);
  return { serveName: alias ?? m[1]!, model: m[1]!, ref: m[2]! };
}

export function resolveRef(store: TrackingStore, r: RegistryRef): ModelVersionRow {
  const v = store.resolveModel(r.model, r.ref);
  if (!v) {
    const known = store.listModels(r.model);
    throw new RegistryError(known.length === 0
      ? `registry:${r.model}@${r.ref}: no model named ${r.model} in ${store.path} (register one with \`nabla models register <run> --name ${r.model}\`)`
      : `registry:${r.model}@${r.ref}: no version of ${r.model} is in ${r.ref} (versions: ${known.map((k) => `${k.version} ${k.stage}`).join(', ')})`);
  }
  return v;
}

export interface ResolvedSpecs {
  /** The specs with registry references replaced by `name=dir`. */
  specs: string[];
  refs: { ref: RegistryRef; version: number; dir: string }[];
}

/** Replace every registry reference among `specs` by `name=dir` (plain directories pass through). */
export function resolveRegistrySpecs(specs: string[], storePath: string): ResolvedSpecs {
  const refs: ResolvedSpecs['refs'] = [];
  const parsed = specs.map((s) => ({ s, r: parseRegistryRef(s) }));
  if (!parsed.some((p) => p.r)) return { specs, refs };
  // never create a store as a side effect of serving
  if (!existsSync(storePath)) throw new RegistryError(`${parsed.find((p) => p.r)!.s}: no tracking store at ${storePath} (pass --store PATH)`);
  const store = TrackingStore.open(storePath);
  try {
    const out = parsed.map(({ s, r }) => {
      if (!r) return s;
      const v = resolveRef(store, r);
      refs.push({ ref: r, version: v.version, dir: v.path });
      return `${r.serveName}=${v.path}`;
    });
    return { specs: out, refs };
  } finally {
    store.close();
  }
}

/** What the watcher needs of the server: reload a model from a new directory (ServeHandle.reload). */
export interface ReloadTarget {
  repository: { get(name: string): unknown };
  reload(name: string, opts: { dir: string }): Promise<void>;
}

/**
 * Poll the store every `intervalMs`; when its registry counter moves, re-resolve each reference
 * and reload the models whose version changed. Returns a stop function. The timer is unref'd.
 */
export function watchRegistry(storePath: string, resolved: ResolvedSpecs, target: ReloadTarget, log: (line: string) => void, intervalMs = 2000): () => void {
  if (resolved.refs.length === 0) return () => {};
  const store = TrackingStore.open(storePath);
  let seen = store.registryVersion();
  const current = new Map(resolved.refs.map((x) => [x.ref.serveName, x.version]));
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const now = store.registryVersion();
      if (now === seen) return;
      seen = now;
      for (const { ref } of resolved.refs) {
        let v: ModelVersionRow;
        try {
          v = resolveRef(store, ref);
        } catch (e) {
          log(`registry:${ref.model}@${ref.ref} no longer resolves (${(e as Error).message}); version ${current.get(ref.serveName)} keeps serving`);
          continue;
        }
        if (v.version === current.get(ref.serveName)) continue;
        const entry = target.repository.get(ref.serveName);
        if (!entry) continue;
        log(`registry:${ref.model}@${ref.ref} is now version ${v.version} (${v.path}); reloading ${ref.serveName}`);
        try {
          // the serving version keeps answering until the new one is loaded; a failed load keeps it
          await target.reload(ref.serveName, { dir: v.path });
          current.set(ref.serveName, v.version);
        } catch (e) {
          log(`reloading ${ref.serveName} from ${v.path} failed: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      log(`registry poll failed: ${(e as Error).message}`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    store.close();
  };
}
