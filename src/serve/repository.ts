// The model repository: the models named on the command line, each loaded from its own source
// (by default its directory: verified, strict, finite weights), warmed, and served through its
// own batcher. A reload builds
// the new version completely before swapping it in; requests already queued on the old version
// finish there, so none is dropped. A model that fails to load is reported not ready with its
// error while the others serve.

import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { HttpError, NablaError, ValueError } from '../errors.js';
import { loadModelDir, type LoadedModel } from '../io/model-dir.js';
import { ModelVersion, type VersionOptions } from './model-version.js';
import { MODEL_NAME_RE } from './oip.js';

export { ModelVersion, type BatchMode, type BatchingOptions } from './model-version.js';

export interface ModelSource {
  name: string;
  dir: string;
}

/**
 * "name=dir" or "dir". A model is named after its directory, except that a `nabla train` run's
 * model, `<run>/model`, is named after the run: `runs/latest/model` serves as `latest`. A run
 * directory itself (`runs/latest`, holding `model/` and no manifest of its own) serves its model.
 */
export function parseModelSource(spec: string): ModelSource {
  const eq = spec.indexOf('=');
  let name: string | undefined;
  let dir = spec;
  if (eq > 0 && MODEL_NAME_RE.test(spec.slice(0, eq))) {
    name = spec.slice(0, eq);
    dir = spec.slice(eq + 1);
  }
  let abs = resolve(dir);
  if (!existsSync(join(abs, 'manifest.json')) && existsSync(join(abs, 'model', 'manifest.json'))) abs = join(abs, 'model');
  if (name === undefined) {
    name = basename(abs);
    if (name === 'model') name = basename(resolve(abs, '..'));
  }
  if (!MODEL_NAME_RE.test(name)) {
    throw new ValueError(`model name ${JSON.stringify(name)} (from ${JSON.stringify(spec)}) is invalid: expected 1–128 characters from [A-Za-z0-9_.-] starting with a letter or digit; name it explicitly with name=dir`);
  }
  return { name, dir: abs };
}

/** Turns a model source into a model (see ServeOptions.loader). */
export type ModelLoader = (source: ModelSource, opts: { allowNonFinite: boolean }) => LoadedModel | Promise<LoadedModel>;

const loadFromDir: ModelLoader = (source, opts) => loadModelDir(source.dir, opts);

export interface RepositoryOptions extends VersionOptions {
  /** Default: loadModelDir. */
  loader?: ModelLoader;
  /** Serve models whose weights hold NaN or ±Inf (refused by default, like eval and predict). */
  allowNonFinite?: boolean;
  /** Where the full load errors go (they name server paths, so clients get only a summary). */
  log?: (line: string) => void;
}

/** What an unauthenticated client may learn about a failed load: the code and a fixed summary, no
 *  server paths, hashes or file contents (the server log has the full message). */
const PUBLIC_REASONS: [RegExp, string][] = [
  [/^E_MODEL_NOT_FOUND$/, 'its model directory does not exist'],
  [/^E_MODEL_MISSING_FILE$/, 'a model file is missing or unreadable'],
  [/^E_MODEL_NOT_A_FILE$/, 'a model file is not a regular file'],
  [/^E_MODEL_INTEGRITY$/, 'a model file does not match its manifest hash (corrupt or modified)'],
  [/^E_MODEL_(BAD_JSON|BAD_META|BAD_MANIFEST|VERSION)$/, 'its model description is invalid'],
  [/^E_ST_NON_FINITE$/, 'its weights hold NaN or infinite values (--allow-non-finite serves them anyway)'],
  [/^E_ST_(MISSING|UNEXPECTED)_TENSOR$|^E_ST_(SHAPE|DTYPE)_MISMATCH$/, 'its weights do not match its architecture'],
  [/^E_ST_/, 'its weight file is malformed'],
  [/^E_NON_FINITE_OUTPUT$/, 'it yields non-finite outputs'],
];

export function publicReason(e: unknown): string {
  const code = typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : undefined;
  const summary = (code && PUBLIC_REASONS.find(([re]) => re.test(code))?.[1]) ?? 'it could not be loaded';
  return `${summary}${code ? ` [${code}]` : ''}; the server log has the details`;
}

export type ModelState = 'loading' | 'ready' | 'failed';

export class ModelEntry {
  state: ModelState = 'loading';
  /** Why the model is not ready, as clients see it (no server paths). */
  error: string | undefined;
  current: ModelVersion | undefined;
  loads = 0;
  private loading: Promise<ModelVersion> | null = null;

  constructor(readonly source: ModelSource) {}

  get name(): string {
    return this.source.name;
  }

  /** The load in progress, if any. */
  get pending(): Promise<ModelVersion> | null {
    return this.loading;
  }

  /** Load (or reload) from the source; concurrent calls share one load. */
  load(opts: RepositoryOptions): Promise<ModelVersion> {
    if (!this.loading) {
      this.loading = this.doLoad(opts).finally(() => {
        this.loading = null;
      });
    }
    return this.loading;
  }

  private async doLoad(opts: RepositoryOptions): Promise<ModelVersion> {
    let v: ModelVersion;
    try {
      const { model, meta, files } = await (opts.loader ?? loadFromDir)(this.source, { allowNonFinite: opts.allowNonFinite ?? false });
      v = new ModelVersion(this.name, String(this.loads + 1), model, meta, opts, files);
      v.calibrate();
      // warm: JIT the forward path at the sizes it will see, and prove it yields finite values
      for (const rows of new Set([1, opts.batching.maxBatch])) {
        const outs = v.forward(new Float32Array(rows * v.sig.sampleSize).fill(v.text?.tok.padId ?? 0), rows);
        if (!opts.allowNonFinite && !outs.every((o) => o.every(Number.isFinite))) {
          throw new NablaError('E_NON_FINITE_OUTPUT', 'the model yields non-finite outputs on an all-zero input');
        }
      }
    } catch (e) {
      const keeps = this.current ? `; version ${this.current.version} keeps serving` : '';
      opts.log?.(`cannot load model ${this.name} from ${this.source.dir}: ${(e as Error).message}${keeps}`);
      const reason = publicReason(e);
      if (!this.current) {
        this.state = 'failed';
        this.error = reason;
        opts.metrics.modelReady.set({ model: this.name }, 0);
      }
      throw new HttpError(500, `cannot load model ${this.name}: ${reason}${keeps}`, {}, 'E_MODEL_LOAD');
    }
    this.loads++;
    // requests already queued hold the old version and finish on it
    this.current = v;
    this.state = 'ready';
    this.error = undefined;
    opts.metrics.modelReady.set({ model: this.name }, 1);
    return v;
  }
}

export class ModelRepository {
  readonly entries = new Map<string, ModelEntry>();

  constructor(sources: ModelSource[], readonly opts: RepositoryOptions) {
    for (const s of sources) {
      if (!MODEL_NAME_RE.test(s.name)) throw new ValueError(`model name ${JSON.stringify(s.name)} is invalid: expected ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`);
      if (this.entries.has(s.name)) throw new ValueError(`two models are named ${s.name}; name them apart with name=dir`);
      this.entries.set(s.name, new ModelEntry(s));
      opts.metrics.addModel(s.name);
    }
  }

  /** Look a (validated) name up among the configured models only; the name never reaches the file system. */
  get(name: string): ModelEntry | undefined {
    return this.entries.get(name);
  }

  /** Load every model; one failing does not stop the others. */
  async loadAll(): Promise<void> {
    for (const e of this.entries.values()) {
      try {
        await e.load(this.opts);
      } catch {
        // recorded on the entry (state 'failed', error) and reported by the ready endpoints
      }
    }
  }

  get allReady(): boolean {
    for (const e of this.entries.values()) if (e.state !== 'ready') return false;
    return true;
  }

  get anyReady(): boolean {
    for (const e of this.entries.values()) if (e.state === 'ready') return true;
    return false;
  }
}
