// `nabla train`: build a reference model (or one from an architecture JSON), train it with
// fitAsync() (checkpoints, exact resume, the event loop free between batches so a closed pipe or
// a signal is noticed), evaluate it on the test split and save a model directory.
// Order matters: every flag, the output directory and the dataset are checked before anything on
// disk changes, so a mistyped command never moves the user's runs/latest aside.

import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { setBackend } from '../backend/backend.js';
import { initWebGPU } from '../backend/webgpu/backend.js';
import type { Module } from '../nn/module.js';
import { moveToAsync } from '../train/device.js';
import { DataLoader } from '../data/loader.js';
import { randomSplit } from '../data/dataset.js';
import '../index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveModelDir, type InputSpec } from '../io/model-dir.js';
import { crossEntropy, mseLoss } from '../nn/index.js';
import type { WeightsDtype } from '../io/half.js';
import { Generator, manualSeed } from '../random.js';
import type { Tensor } from '../tensor.js';
import {
  CheckpointManager, DirectoryError, DivergenceWarning, EarlyStopping, ProgressBar, checkDirectoryCreatable, evaluate, fitAsync,
  formatConfusionMatrix, formatReport, makeDirectory, type Callback, type HistoryEntry,
} from '../train/index.js';
import { ResourceMonitor, monitorCallback } from '../serve/monitor.js';
import { UsageError } from './errors.js';
import { prepareDataset } from './datasets.js';
import { buildModel, makeOptimizer, makeScheduler, plural, resolveConfig, resumeConfig, type RunConfig, type TrainArgs } from './train-config.js';

export type { TrainArgs } from './train-config.js';
import { startTracking, type TrackArgs } from '../track/train-hook.js';
import { isTextModel } from '../models/text-reference.js';

const DEFAULT_OUT = 'runs/latest';

/** Where the run goes and what must happen on disk once everything has been checked. */
interface RunPlan {
  cfg: RunConfig;
  runDir: string;
  /** The default output holds an earlier run: move it here first. */
  moveAsideTo?: string;
  /** run.json needs writing (a fresh run, or a resumed one extended with --epochs). */
  writeConfig: boolean;
  /** --resume of a run with a checkpoint; false starts (or restarts) it from step 0. */
  fromCheckpoint: boolean;
}

function selectBackend(name: string | undefined): void {
  if (!name) return;
  try {
    setBackend(name);
  } catch (e) {
    throw new UsageError(`--backend: ${(e as Error).message}`);
  }
}

/** --device: the model moved to a device before training (the whole step then runs there). */
export async function placeModel(model: Module, device: string | undefined): Promise<string | undefined> {
  if (!device || device === 'cpu') return undefined;
  let where = device;
  if (device === 'webgpu') {
    const av = await initWebGPU();
    if (!av.ok) throw new UsageError(`--device webgpu: ${av.reason}`);
    where = `webgpu, ${av.reason}`;
  }
  try {
    model.to(device);
  } catch (e) {
    throw new UsageError(`--device ${device}: ${(e as Error).message}`);
  }
  return where;
}

/** Checks the output directory without creating it; a DirectoryError becomes a usage error naming the flag. */
function checkOut(flag: string, value: string, dir: string): void {
  try {
    checkDirectoryCreatable(dir);
  } catch (e) {
    if (e instanceof DirectoryError) throw new UsageError(`${flag} ${value}: ${e.message}`);
    throw e;
  }
}

function planFresh(a: TrainArgs): RunPlan {
  const cfg = resolveConfig(a);
  return { cfg, ...planOutput(a), writeConfig: true, fromCheckpoint: false };
}

/** Where a fresh run goes, and whether the default output's earlier run must be moved aside first. */
function planOutput(a: TrainArgs): { runDir: string; moveAsideTo?: string } {
  const runDir = resolve(a.out ?? DEFAULT_OUT);
  const flag = a.out !== undefined ? '--out' : 'the default output';
  checkOut(flag, a.out ?? DEFAULT_OUT, runDir);
  let moveAsideTo: string | undefined;
  if (existsSync(join(runDir, 'run.json'))) {
    // Never overwrite a run: the default place is freed by moving the earlier run aside (so the
    // quick start can be run again); a directory the user named is theirs to choose.
    if (a.out !== undefined) {
      throw new UsageError(`--out ${a.out}: holds an earlier run (run.json); continue it with --resume ${a.out}, or pass another --out`);
    }
    moveAsideTo = join(dirname(runDir), `run-${statSync(join(runDir, 'run.json')).mtime.toISOString().replace(/[:.]/g, '-')}`);
  } else if (new CheckpointManager(join(runDir, 'checkpoints')).list().length > 0) {
    throw new UsageError(`${flag} ${a.out ?? DEFAULT_OUT}: holds checkpoints but no run.json, so it cannot be resumed or reused; pass another --out`);
  }
  return { runDir, moveAsideTo };
}

function planResume(a: TrainArgs): RunPlan {
  const runDir = resolve(a.resume!);
  const cfgPath = join(runDir, 'run.json');
  if (!existsSync(cfgPath)) throw new UsageError(`--resume ${a.resume}: ${cfgPath} not found (expected a run directory written by \`nabla train --out\`)`);
  let saved: RunConfig;
  try {
    saved = JSON.parse(readFileSync(cfgPath, 'utf8')) as RunConfig;
  } catch (e) {
    throw new UsageError(`--resume ${a.resume}: ${cfgPath} is not valid JSON (${(e as Error).message})`);
  }
  if (saved === null || typeof saved !== 'object' || typeof saved.epochs !== 'number' || typeof saved.dataset !== 'string') {
    throw new UsageError(`--resume ${a.resume}: ${cfgPath} is not a run's settings (expected the run.json \`nabla train\` writes)`);
  }
  if (isTextModel(saved.model)) throw new UsageError(`--resume ${a.resume}: a ${saved.model} run cannot be resumed yet (text models); start a new run with --out`);
  if (a.epochs !== undefined && a.epochs < saved.epochs) {
    throw new UsageError(`--resume ${a.resume} --epochs ${a.epochs}: the run is ${plural(saved.epochs, 'epoch')} long; a resumed run can be extended, not shortened`);
  }
  const cfg = resumeConfig(a, saved);
  const fromCheckpoint = new CheckpointManager(join(runDir, 'checkpoints')).list().length > 0;
  return { cfg, runDir, writeConfig: cfg !== saved, fromCheckpoint };
}

/** ½(y − ŷ)², averaged over the batch: the perceptron's loss. */
const halfSquaredError = (out: Tensor, y: Tensor): Tensor => mseLoss(out, y).mul(0.5);
const thresholdAccuracy = (out: Tensor, y: Tensor): number => out.gt(0.5).eq(y).float().mean().item();

class JsonLines implements Callback {
  readonly name = 'JsonLines';
  onEpochEnd(_ctx: unknown, e: HistoryEntry): void {
    const line = { epoch: e.epoch, loss: e.loss, trainSeconds: e.trainSeconds, samplesPerSecond: e.samplesPerSecond, valLoss: e.valLoss ?? null, valAccuracy: e.valAccuracy ?? null, lr: e.lr ?? null };
    process.stdout.write(JSON.stringify(line) + '\n');
  }
}

/** Moves the earlier run aside (default output only), creates the run directory, writes run.json. */
function prepareRunDir(plan: RunPlan, say: (line: string) => void): void {
  const show = (p: string) => {
    const r = relative(process.cwd(), p);
    return r && !r.startsWith('..') ? r : p;
  };
  try {
    if (plan.moveAsideTo) {
      renameSync(plan.runDir, plan.moveAsideTo);
      say(`moved the earlier run in ${show(plan.runDir)} to ${show(plan.moveAsideTo)}`);
    }
    makeDirectory(plan.runDir);
  } catch (e) {
    if (e instanceof DirectoryError) throw new UsageError(`output ${show(plan.runDir)}: ${e.message}`);
    const err = e as NodeJS.ErrnoException;
    throw new UsageError(`output ${show(plan.runDir)}: ${err.code ?? ''} ${err.message}`.trim());
  }
  if (plan.writeConfig) writeFileAtomic(join(plan.runDir, 'run.json'), JSON.stringify(plan.cfg, null, 2) + '\n');
}

export async function runTrain(a: TrainArgs): Promise<void> {
  selectBackend(a.backend);
  if (a.resume === undefined && isTextModel(a.model)) {
    // Text models: their own data path (tokenizer, padding, warm-up + cosine); the same output rules.
    const say = a.json ? (line: string) => process.stderr.write(line + '\n') : (line: string) => process.stdout.write(line + '\n');
    const out = planOutput(a);
    const { runTrainText } = await import('./train-text.js');
    await runTrainText(a, { runDir: out.runDir, say, prepare: () => prepareRunDir({ cfg: {} as RunConfig, ...out, writeConfig: false, fromCheckpoint: false }, say) });
    return;
  }
  const plan = a.resume !== undefined ? planResume(a) : planFresh(a);
  const { cfg, runDir } = plan;
  const say = a.json ? (line: string) => process.stderr.write(line + '\n') : (line: string) => process.stdout.write(line + '\n');

  const data = await prepareDataset(cfg.dataset, {
    layout: cfg.layout,
    normalize: cfg.normalize,
    seed: cfg.seed,
    labelColumn: cfg.labelColumn,
    target: cfg.loss === 'halfSquaredError' ? 'float' : 'index',
  });
  manualSeed(cfg.seed);
  const model = buildModel(cfg, data);
  const where = await placeModel(model, a.device);
  if (where) say(`device: ${where}`);
  const optimizer = makeOptimizer(cfg, model.parameters());
  const scheduler = makeScheduler(cfg, optimizer);

  const splitGen = new Generator(cfg.seed + 1);
  let trainSet = data.train;
  let valLoader: DataLoader | undefined;
  if (cfg.valSplit > 0) {
    const nVal = Math.max(1, Math.round(data.train.length * cfg.valSplit));
    if (nVal >= data.train.length) {
      throw new UsageError(`--val-split ${cfg.valSplit}: the training part of ${cfg.dataset} has ${plural(data.train.length, 'row')}, too few to hold ${nVal} out for validation; pass --val-split 0`);
    }
    const [tr, va] = randomSplit(data.train, [data.train.length - nVal, nVal], splitGen);
    trainSet = tr as unknown as typeof trainSet;
    valLoader = new DataLoader(va, { batchSize: 1000 });
  }
  const trainLoader = new DataLoader(trainSet, { batchSize: cfg.batchSize, shuffle: true, generator: new Generator(cfg.seed + 2) });
  const lossFn = cfg.loss === 'halfSquaredError' ? halfSquaredError : (o: Tensor, y: Tensor) => crossEntropy(o, y);

  // Everything is checked: only now does anything on disk change.
  prepareRunDir(plan, say);
  if (a.resume !== undefined && !plan.fromCheckpoint) say(`${join(runDir, 'checkpoints')} holds no checkpoint yet: starting the run from step 0 with the settings in its run.json`);
  const extras = [cfg.lrSchedule && `lr schedule ${cfg.lrSchedule}`, cfg.weightDecay !== undefined && `weight decay ${cfg.weightDecay}`,
    cfg.momentum !== undefined && `momentum ${cfg.momentum}`, cfg.dropout !== undefined && `dropout ${cfg.dropout}`,
    cfg.earlyStopping !== undefined && `early stopping after ${plural(cfg.earlyStopping, 'epoch')} without improvement`].filter(Boolean);
  say(`nabla train: ${cfg.model} on ${cfg.dataset} (${trainSet.length} train, ${valLoader ? `${data.train.length - trainSet.length} validation, ` : ''}${data.test.length} test), ` +
    `${cfg.optimizer} lr ${cfg.lr}${extras.length ? ` (${extras.join(', ')})` : ''}, batch ${cfg.batchSize}, ${plural(cfg.epochs, 'epoch')}, seed ${cfg.seed}`);

  // CPU and memory beside the progress; thresholds warn on stderr when crossed
  const monitor = new ResourceMonitor({ alertMemoryMb: a.alertMemoryMb, alertCpuPercent: a.alertCpuPercent });
  const divergence = new DivergenceWarning();
  const callbacks: Callback[] = [a.json ? new JsonLines() : new ProgressBar({ fields: () => monitor.fields() }), divergence];
  if (cfg.earlyStopping !== undefined) callbacks.push(new EarlyStopping({ patience: cfg.earlyStopping }));
  callbacks.push(monitorCallback(monitor));
  const tracking = startTracking(a as TrackArgs, { runDir, config: { ...cfg }, dataset: cfg.dataset, data });
  callbacks.push(...tracking.callbacks);
  const { epochs: _epochs, ...hashed } = cfg; // the epoch count may grow on --resume
  const history = await fitAsync(model, trainLoader, {
    epochs: cfg.epochs,
    optimizer,
    loss: lossFn,
    metrics: cfg.loss === 'halfSquaredError' ? { accuracy: thresholdAccuracy } : undefined,
    validation: valLoader,
    scheduler,
    callbacks,
    checkpointDir: join(runDir, 'checkpoints'),
    // Default: every epoch, but no more often than every 200 steps (tiny epochs, e.g. the perceptron).
    checkpointEvery: cfg.checkpointEvery ?? Math.max(trainLoader.length, 200),
    resume: plan.fromCheckpoint ? join(runDir, 'checkpoints') : undefined,
    seed: cfg.seed,
    config: hashed,
    // A stop is shown once: by the progress display, the final JSON line, or the error line.
    log: (line) => { if (!line.startsWith('stopped: ')) say(line); },
  });
  // Test evaluation and saving read the weights on the host.
  if (a.device && a.device !== 'cpu') await moveToAsync(model, 'cpu', optimizer);
  if (history.stopped && history.stopped.by === 'nonFinite') {
    throw new UsageError(`training stopped: ${history.stopped.reason}`);
  }
  const warnings = divergence.warning ? [divergence.warning] : [];

  const testLoader = new DataLoader(data.test, { batchSize: 1000 });
  let test: Record<string, unknown>;
  if (cfg.loss === 'halfSquaredError') {
    let correct = 0, n = 0, lossSum = 0;
    for (const [x, y] of testLoader) {
      const out = model.forward(x) as Tensor;
      correct += thresholdAccuracy(out, y) * x.shape[0]!;
      lossSum += halfSquaredError(out, y).item() * x.shape[0]!;
      n += x.shape[0]!;
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
  // `fit` tells predict how to place a picture in the input (MNIST's centring for MNIST models).
  const input: InputSpec & { fit?: string } = data.fit ? { ...data.input, fit: data.fit } : data.input;
  saveModelDir(modelDir, model, {
    input,
    output: cfg.loss === 'halfSquaredError' ? 'probability' : 'logits',
    classes: data.classes,
    training: {
      model: cfg.model, dataset: cfg.dataset, epochs: cfg.epochs, epochsRun: history.epochs.length, batchSize: cfg.batchSize, lr: cfg.lr, optimizer: cfg.optimizer,
      lrSchedule: cfg.lrSchedule, weightDecay: cfg.weightDecay, momentum: cfg.momentum, dropout: cfg.dropout, earlyStopping: cfg.earlyStopping,
      seed: cfg.seed, features: data.featureNames, testAccuracy: test.accuracy, testLoss: test.loss, stopped: history.stopped?.reason, warnings,
    },
  }, { weightsDtype: a.weightsDtype });
  tracking.finish(test, modelDir, data.classes);
  if (a.json) {
    process.stdout.write(JSON.stringify({
      test: { loss: test.loss, accuracy: test.accuracy, samples: test.samples, macro: test.macro ?? null }, modelDir, epochs: history.epochs.length,
      globalStep: history.globalStep, stopped: history.stopped?.reason ?? null, warnings,
    }) + '\n');
  } else {
    if (cfg.loss === 'halfSquaredError') say(`test: accuracy ${((test.accuracy as number) * 100).toFixed(2)}%, loss ${(test.loss as number).toFixed(4)}`);
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    say(`model saved to ${modelDir}`);
  }
}
