// `nabla train`: build a reference model (or one from an architecture JSON), train it with fit()
// (checkpoints, exact resume), evaluate it on the test split and save a model directory.

import { existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { setBackend } from '../backend/backend.js';
import { DataLoader } from '../data/loader.js';
import { randomSplit } from '../data/dataset.js';
import '../index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveModelDir } from '../io/model-dir.js';
import type { WeightsDtype } from '../io/half.js';
import { DEFAULTS, REFERENCE_MODELS, buildReference, type OptimizerName, type ReferenceName, type TrainingDefaults } from '../models/reference.js';
import { buildModule, crossEntropy, mseLoss, type Module } from '../nn/index.js';
import { Adagrad, Adam, AdamW, RMSprop, SGD, type Optimizer } from '../optim/index.js';
import { Generator, manualSeed } from '../random.js';
import type { Tensor } from '../tensor.js';
import { evaluate, fit, ProgressBar, formatConfusionMatrix, formatReport, type Callback, type HistoryEntry } from '../train/index.js';
import { ResourceMonitor, monitorCallback } from '../serve/monitor.js';
import { UsageError } from './errors.js';
import { prepareDataset, type PreparedData } from './datasets.js';

const DEFAULT_OUT = 'runs/latest';

export interface TrainArgs {
  model: string;
  dataset?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer?: OptimizerName;
  seed: number;
  /** Default runs/latest, where an earlier run is moved aside rather than refused. */
  out?: string;
  resume?: string;
  checkpointEvery?: number;
  valSplit?: number;
  labelColumn: string;
  backend?: string;
  json?: boolean;
  alertMemoryMb?: number;
  alertCpuPercent?: number;
  /** How the saved model's float32 weights are stored (f16/bf16 are rounded to nearest even). */
  weightsDtype?: WeightsDtype;
}

/** What a run directory remembers, so `--resume` continues with exactly the same settings. */
interface RunConfig {
  model: string;
  architecture?: unknown;
  dataset: string;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerName;
  momentum?: number;
  seed: number;
  valSplit: number;
  labelColumn: string;
  checkpointEvery?: number;
  loss: TrainingDefaults['loss'];
  layout: 'flat' | 'image';
  normalize?: { mean: number; std: number };
}

function readArchitecture(path: string): unknown {
  if (!existsSync(path)) throw new UsageError(`--model ${path}: no such file (expected ${REFERENCE_MODELS.join(', ')} or an architecture JSON file)`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`--model ${path}: not valid JSON (${(e as Error).message})`);
  }
}

function usesConv(arch: unknown): boolean {
  return JSON.stringify(arch).includes('"Conv2d"');
}

function resolveConfig(a: TrainArgs): RunConfig {
  const isRef = (REFERENCE_MODELS as readonly string[]).includes(a.model);
  const architecture = isRef ? undefined : readArchitecture(a.model);
  const d: TrainingDefaults = isRef
    ? DEFAULTS[a.model as ReferenceName]
    : { ...DEFAULTS.mlp, input: usesConv(architecture) ? 'image' : 'flat' };
  const dataset = a.dataset ?? d.defaultDataset;
  const optimizer = a.optimizer ?? d.optimizer;
  return {
    model: a.model,
    architecture,
    dataset,
    epochs: a.epochs ?? d.epochs,
    batchSize: a.batchSize ?? d.batchSize,
    lr: a.lr ?? d.lr,
    optimizer,
    momentum: optimizer === d.optimizer ? d.momentum : undefined,
    seed: a.seed,
    valSplit: a.valSplit ?? (['and', 'or', 'xor'].includes(dataset) ? 0 : 0.1),
    labelColumn: a.labelColumn,
    checkpointEvery: a.checkpointEvery,
    loss: d.loss,
    layout: d.input,
    normalize: d.normalize,
  };
}

function makeOptimizer(name: OptimizerName, params: Tensor[], lr: number, momentum?: number): Optimizer {
  switch (name) {
    case 'sgd':
      return new SGD(params, { lr, momentum: momentum ?? 0 });
    case 'adam':
      return new Adam(params, { lr });
    case 'adamw':
      return new AdamW(params, { lr });
    case 'adagrad':
      return new Adagrad(params, { lr });
    case 'rmsprop':
      return new RMSprop(params, { lr });
  }
}

function buildModel(cfg: RunConfig, data: PreparedData): Module {
  if (cfg.architecture !== undefined) return buildModule(cfg.architecture);
  const shape = data.input.shape;
  return buildReference(cfg.model as ReferenceName, {
    features: shape.reduce((a, b) => a * b, 1),
    channels: shape.length === 3 ? shape[0] : 1,
    size: shape.length === 3 ? shape[1] : 0,
    classes: data.classes.length,
  });
}

/** ½(y − ŷ)², averaged over the batch: the perceptron's loss. */
const halfSquaredError = (out: Tensor, y: Tensor): Tensor => mseLoss(out, y).mul(0.5);
const thresholdAccuracy = (out: Tensor, y: Tensor): number => out.gt(0.5).eq(y).float().mean().item();

class JsonLines implements Callback {
  readonly name = 'JsonLines';
  onEpochEnd(_ctx: unknown, e: HistoryEntry): void {
    const line = { epoch: e.epoch, loss: e.loss, trainSeconds: e.trainSeconds, samplesPerSecond: e.samplesPerSecond, valLoss: e.valLoss ?? null, valAccuracy: e.valAccuracy ?? null };
    process.stdout.write(JSON.stringify(line) + '\n');
  }
}

export async function runTrain(a: TrainArgs): Promise<void> {
  if (a.backend) {
    try {
      setBackend(a.backend);
    } catch (e) {
      throw new UsageError(`--backend: ${(e as Error).message}`);
    }
  }
  let runDir = resolve(a.out ?? DEFAULT_OUT);
  let cfg: RunConfig;
  if (a.resume) {
    runDir = resolve(a.resume);
    const cfgPath = join(runDir, 'run.json');
    if (!existsSync(cfgPath)) throw new UsageError(`--resume ${a.resume}: ${cfgPath} not found (expected a run directory written by \`nabla train --out\`)`);
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as RunConfig;
  } else {
    cfg = resolveConfig(a);
  }
  const say = a.json ? (line: string) => process.stderr.write(line + '\n') : (line: string) => console.log(line);
  if (!a.resume && existsSync(join(runDir, 'run.json'))) {
    // Never overwrite a run: the default place is freed by moving the earlier run aside (so the
    // quick start can be run again); a directory the user named is theirs to choose.
    if (a.out !== undefined) {
      throw new UsageError(`--out ${a.out}: holds an earlier run (run.json); continue it with --resume ${a.out}, or pass another --out`);
    }
    const aside = join(dirname(runDir), `run-${statSync(join(runDir, 'run.json')).mtime.toISOString().replace(/[:.]/g, '-')}`);
    renameSync(runDir, aside);
    say(`moved the earlier run in ${relative(process.cwd(), runDir) || runDir} to ${relative(process.cwd(), aside) || aside}`);
  }

  const data = await prepareDataset(cfg.dataset, {
    layout: cfg.layout,
    normalize: cfg.normalize,
    seed: cfg.seed,
    labelColumn: cfg.labelColumn,
    target: cfg.loss === 'halfSquaredError' ? 'float' : 'index',
  });
  manualSeed(cfg.seed);
  const model = buildModel(cfg, data);
  const optimizer = makeOptimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum);

  const splitGen = new Generator(cfg.seed + 1);
  let trainSet = data.train;
  let valLoader: DataLoader | undefined;
  if (cfg.valSplit > 0) {
    const nVal = Math.max(1, Math.round(data.train.length * cfg.valSplit));
    const [tr, va] = randomSplit(data.train, [data.train.length - nVal, nVal], splitGen);
    trainSet = tr as unknown as typeof trainSet;
    valLoader = new DataLoader(va, { batchSize: 1000 });
  }
  const trainLoader = new DataLoader(trainSet, { batchSize: cfg.batchSize, shuffle: true, generator: new Generator(cfg.seed + 2) });
  const lossFn = cfg.loss === 'halfSquaredError' ? halfSquaredError : (o: Tensor, y: Tensor) => crossEntropy(o, y);

  if (!a.resume) {
    mkdirSync(runDir, { recursive: true });
    writeFileAtomic(join(runDir, 'run.json'), JSON.stringify(cfg, null, 2) + '\n');
  }
  say(`nabla train: ${cfg.model} on ${cfg.dataset} (${trainSet.length} train, ${valLoader ? `${Math.round(data.train.length * cfg.valSplit)} validation, ` : ''}${data.test.length} test), ` +
    `${cfg.optimizer} lr ${cfg.lr}, batch ${cfg.batchSize}, ${cfg.epochs} epochs, seed ${cfg.seed}`);

  // CPU and memory beside the progress; thresholds warn on stderr when crossed
  const monitor = new ResourceMonitor({ alertMemoryMb: a.alertMemoryMb, alertCpuPercent: a.alertCpuPercent });
  const callbacks: Callback[] = a.json ? [new JsonLines()] : [new ProgressBar({ fields: () => monitor.fields() })];
  callbacks.push(monitorCallback(monitor));
  const history = fit(model, trainLoader, {
    epochs: cfg.epochs,
    optimizer,
    loss: lossFn,
    metrics: cfg.loss === 'halfSquaredError' ? { accuracy: thresholdAccuracy } : undefined,
    validation: valLoader,
    callbacks,
    checkpointDir: join(runDir, 'checkpoints'),
    // Default: every epoch, but no more often than every 200 steps (tiny epochs, e.g. the perceptron).
    checkpointEvery: cfg.checkpointEvery ?? Math.max(trainLoader.length, 200),
    resume: a.resume ? runDir + '/checkpoints' : undefined,
    seed: cfg.seed,
    config: { ...cfg },
    log: say,
  });
  if (history.stopped && history.stopped.by === 'nonFinite') {
    throw new UsageError(`training stopped: ${history.stopped.reason}`);
  }

  const testLoader = new DataLoader(data.test, { batchSize: 1000 });
  let test: Record<string, unknown>;
  if (cfg.loss === 'halfSquaredError') {
    let correct = 0, n = 0, lossSum = 0;
    for (const [x, y] of testLoader) {
      const out = model.forward(x) as Tensor;
      correct += thresholdAccuracy(out, y) * x.shape[0];
      lossSum += halfSquaredError(out, y).item() * x.shape[0];
      n += x.shape[0];
    }
    test = { loss: lossSum / n, accuracy: correct / n, samples: n };
  } else {
    const r = evaluate(model, testLoader, { loss: lossFn, classNames: data.classes });
    test = { loss: r.loss, accuracy: r.accuracy, samples: r.samples, macro: r.macro, perClass: r.perClass, confusion: r.confusion };
    if (!a.json) {
      say(`\ntest: accuracy ${(r.accuracy * 100).toFixed(2)}%, loss ${r.loss.toFixed(4)} on ${r.samples} samples`);
      say(formatReport(r.report));
      say('confusion matrix (rows: true, columns: predicted)');
      say(formatConfusionMatrix(r.confusion, data.classes));
    }
  }
  const modelDir = join(runDir, 'model');
  saveModelDir(modelDir, model, {
    input: data.input,
    output: cfg.loss === 'halfSquaredError' ? 'probability' : 'logits',
    classes: data.classes,
    training: { model: cfg.model, dataset: cfg.dataset, epochs: cfg.epochs, batchSize: cfg.batchSize, lr: cfg.lr, optimizer: cfg.optimizer, seed: cfg.seed, testAccuracy: test.accuracy, testLoss: test.loss },
  }, { weightsDtype: a.weightsDtype });
  if (a.json) {
    process.stdout.write(JSON.stringify({ test: { loss: test.loss, accuracy: test.accuracy, samples: test.samples, macro: test.macro ?? null }, modelDir, epochs: history.epochs.length, globalStep: history.globalStep }) + '\n');
  } else {
    if (cfg.loss === 'halfSquaredError') say(`test: accuracy ${((test.accuracy as number) * 100).toFixed(2)}%, loss ${(test.loss as number).toFixed(4)}`);
    say(`model saved to ${modelDir}`);
  }
}
