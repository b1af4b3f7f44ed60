// `nabla tune`: the command around src/tune. Checks every flag and the space file before any
// trial starts; prints one line per trial event and the ranked report (or JSON lines with --json).

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULTS, REFERENCE_MODELS, type ReferenceName } from '../models/reference.js';
import { Dropout, Flatten, Linear, ReLU, Sequential, type Module } from '../nn/index.js';
import { LocalExecutor, threadsPerTrial, type Executor } from '../tune/executor.js';
import { parseSpace, SpaceError, type Params } from '../tune/space.js';
import { STATE_FILE, type Metric, type TuneSettings } from '../tune/state.js';
import { formatReport, Tune } from '../tune/tune.js';
import '../index.js';
import { UsageError } from './errors.js';

export interface TuneArgs {
  space?: string;
  model: string;
  dataset?: string;
  epochs?: number;
  trials: number;
  algo: 'grid' | 'random' | 'tpe';
  metric: Metric;
  mode?: 'max' | 'min';
  parallel: number;
  seed: number;
  asha: boolean;
  gracePeriod: number;
  reductionFactor: number;
  topK: number;
  repeats: number;
  threadsPerTrial?: number;
  trialMemoryMb: number;
  out?: string;
  resume?: string;
  queue?: string;
  queueName: string;
  priority: number;
  backend?: string;
  valSplit?: number;
  labelColumn?: string;
  json?: boolean;
}

function readSpace(path: string): unknown {
  if (!existsSync(path)) throw new UsageError(`--space ${path}: no such file (expected a JSON search space)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`--space ${path}: not valid JSON (${(e as Error).message})`);
  }
  try {
    parseSpace(raw, path);
  } catch (e) {
    if (e instanceof SpaceError) throw new UsageError(e.message);
    throw e;
  }
  return raw;
}

/** mlp with its hidden widths searched: [width, width/2] as in the reference 256/128. */
async function mlpArchitecture(a: { model: string; dataset?: string; labelColumn?: string; seed: number }): Promise<(p: Params) => unknown> {
  if (a.model !== 'mlp' && a.model !== 'mlp-sgd') throw new UsageError(`the space's 'width' parameter applies to --model mlp or mlp-sgd, not ${a.model}`);
  const d = DEFAULTS[a.model as ReferenceName];
  const { prepareDataset } = await import('./datasets.js');
  const data = await prepareDataset(a.dataset ?? d.defaultDataset, { layout: 'flat', normalize: d.normalize, seed: a.seed, labelColumn: a.labelColumn ?? 'label', target: 'index' });
  const features = data.input.shape.reduce((x, y) => x * y, 1);
  const classes = data.classes.length;
  return (p) => {
    const w = Number(p.width);
    const dropout = p.dropout !== undefined ? Number(p.dropout) : a.model === 'mlp' ? 0.5 : 0;
    const h2 = Math.max(1, Math.round(w / 2));
    const layers: Module[] = [new Flatten(), new Linear(features, w), new ReLU()];
    if (dropout > 0) layers.push(new Dropout(dropout));
    layers.push(new Linear(w, h2), new ReLU());
    if (dropout > 0) layers.push(new Dropout(dropout));
    layers.push(new Linear(h2, classes));
    return new Sequential(...layers).config();
  };
}

export async function runTune(a: TuneArgs): Promise<void> {
  const say = a.json ? (l: string) => process.stderr.write(l + '\n') : (l: string) => console.log(l);
  let dir: string;
  let settings: TuneSettings | undefined;
  if (a.resume) {
    dir = resolve(a.resume);
    if (!existsSync(join(dir, STATE_FILE))) throw new UsageError(`--resume ${a.resume}: ${join(dir, STATE_FILE)} not found (expected a directory written by \`nabla tune\`)`);
  } else {
    if (!a.space) throw new UsageError('--space FILE is required (a JSON search space), or --resume DIR');
    const space = readSpace(a.space);
    if (!(REFERENCE_MODELS as readonly string[]).includes(a.model) && !existsSync(a.model)) throw new UsageError(`--model ${a.model}: expected ${REFERENCE_MODELS.join(', ')} or an architecture JSON file`);
    if (a.asha && a.reductionFactor < 2) throw new UsageError(`--reduction-factor expects an integer ≥ 2, got ${a.reductionFactor}`);
    if (a.queue && !/^rediss?:\/\//.test(a.queue)) throw new UsageError(`--queue ${a.queue}: expected a redis://HOST:PORT URL`);
    dir = resolve(a.out ?? join('runs', `tune-${new Date().toISOString().replace(/[:.]/g, '-')}`));
    if (existsSync(join(dir, STATE_FILE))) throw new UsageError(`--out ${a.out}: holds an earlier tune; continue it with --resume ${a.out}, or pass another --out`);
    const ref = (REFERENCE_MODELS as readonly string[]).includes(a.model) ? DEFAULTS[a.model as ReferenceName] : DEFAULTS.mlp;
    const metric = a.metric;
    settings = {
      model: a.model,
      dataset: a.dataset,
      epochs: a.epochs ?? ref.epochs,
      backend: a.backend,
      valSplit: a.valSplit,
      labelColumn: a.labelColumn,
      space,
      algo: a.algo,
      trials: a.trials,
      metric,
      mode: a.mode ?? (metric.endsWith('Loss') ? 'min' : 'max'),
      parallel: a.parallel,
      seed: a.seed,
      asha: a.asha ? { gracePeriod: a.gracePeriod, reductionFactor: a.reductionFactor } : null,
      topK: a.topK,
      repeats: a.repeats,
      threadsPerTrial: a.threadsPerTrial ?? threadsPerTrial(a.parallel),
      trialMemoryMb: a.trialMemoryMb,
      queue: a.queue,
      queueName: a.queueName,
      priority: a.priority,
    };
  }
  const probe = settings ?? (await import('../tune/state.js')).loadState(dir).settings;
  const space = parseSpace(probe.space);
  const architecture = 'width' in space.specs ? await mlpArchitecture({ model: probe.model, dataset: probe.dataset, labelColumn: probe.labelColumn, seed: probe.seed }) : undefined;
  let queueExecutor: ((s: TuneSettings) => Executor) | undefined;
  if (probe.queue) {
    const { QueueExecutor, connectQueue } = await import('../jobs/queue-executor.js');
    const conn = await connectQueue(probe.queue);
    queueExecutor = (s) => new QueueExecutor(conn, s.queueName ?? 'nabla', s.parallel, s.priority ?? 0, say);
  }
  const tune = new Tune({
    dir,
    resume: !!a.resume,
    executor: queueExecutor ?? ((s) => new LocalExecutor(s.parallel, s.threadsPerTrial, s.trialMemoryMb)),
    architecture,
    log: say,
    onTrialEnd: a.json ? (t) => process.stdout.write(JSON.stringify({ trial: t.id, kind: t.kind, status: t.status, params: t.params, value: t.value ?? null, epochs: t.epochs.length, seconds: t.seconds ?? null, error: t.error ?? null }) + '\n') : undefined,
  }, settings);
  const s = tune.state.settings;
  say(`nabla tune: ${s.algo} over ${tune.searchTotal} trial(s) of ${s.model}, ${s.parallel} at a time (${probe.queue ? `on queue ${s.queueName} at ${probe.queue}` : `${s.threadsPerTrial} thread(s) each`}), ${s.metric} (${s.mode})${s.asha ? `, ASHA grace ${s.asha.gracePeriod} η ${s.asha.reductionFactor}` : ''}; directory ${dir}`);
  const report = await tune.run();
  if (a.json) process.stdout.write(JSON.stringify({ report, dir }) + '\n');
  else say('\n' + formatReport(report));
}
