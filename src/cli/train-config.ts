// `nabla train`'s settings: the flags resolved against the reference model's defaults into the
// RunConfig that run.json keeps, its checks (every flag is used or refused, never ignored), and
// the optimizer, learning-rate schedule and model built from it.

import { existsSync, readFileSync } from 'node:fs';
import { DEFAULTS, REFERENCE_MODELS, buildReference, type OptimizerName, type ReferenceName, type TrainingDefaults } from '../models/reference.js';
import { TEXT_MODELS } from '../models/text-reference.js';
import { buildModule, type Module } from '../nn/index.js';
import { Adagrad, Adam, AdamW, RMSprop, SGD, type Optimizer } from '../optim/index.js';
import { CosineAnnealingLR, InverseTimeLR, ReduceLROnPlateau, StepLR } from '../optim/schedule.js';
import type { SchedulerLike } from '../train/index.js';
import type { PreparedData } from './datasets.js';
import { UsageError } from './errors.js';

export interface TrainArgs {
  /** Absent flags are undefined: that is how `--resume` tells a given flag from a default. */
  model?: string;
  dataset?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer?: OptimizerName;
  lrSchedule?: string;
  weightDecay?: number;
  momentum?: number;
  dropout?: number;
  earlyStopping?: number;
  seed?: number;
  /** Default runs/latest, where an earlier run is moved aside rather than refused. */
  out?: string;
  resume?: string;
  checkpointEvery?: number;
  valSplit?: number;
  labelColumn?: string;
  backend?: string;
  /** Where the model trains: 'cpu' (default) or a device ('webgpu'). */
  device?: string;
  json?: boolean;
  alertMemoryMb?: number;
  alertCpuPercent?: number;
  /** How the saved model's float32 weights are stored (f16/bf16 rounded to nearest even). */
  weightsDtype?: 'f32' | 'f16' | 'bf16';
  /** Text models (text-transformer, text-lstm, gpt): the CSV's text column, the longest sequence, the tokenizer. */
  textColumn?: string;
  maxLength?: number;
  tokenizer?: string;
}

/** What a run directory remembers, so `--resume` continues with exactly the same settings. */
export interface RunConfig {
  model: string;
  architecture?: unknown;
  dataset: string;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerName;
  momentum?: number;
  weightDecay?: number;
  /** `inverse-time:BETA`, `step:SIZE[,GAMMA]`, `cosine[:ETA_MIN]`, `plateau[:PATIENCE[,FACTOR]]`. */
  lrSchedule?: string;
  dropout?: number;
  /** EarlyStopping's patience in epochs (monitoring the validation loss, else the training loss). */
  earlyStopping?: number;
  seed: number;
  valSplit: number;
  labelColumn: string;
  checkpointEvery?: number;
  loss: TrainingDefaults['loss'];
  layout: 'flat' | 'image';
  normalize?: { mean: number; std: number };
}

/** Flags that may accompany --resume: they change how the run is shown or how far it goes, not what it computes. */
// Flags that do not change what is trained: where it is recorded and how it is shown.
const RESUME_FLAGS = new Set(['resume', 'epochs', 'json', 'backend', 'device', 'alertMemoryMb', 'alertCpuPercent', 'track', 'store', 'tensorboard', 'weightsDtype']);

const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function readArchitecture(path: string): unknown {
  if (!existsSync(path)) throw new UsageError(`--model ${path}: no such file and not a known model (expected ${[...REFERENCE_MODELS, ...TEXT_MODELS].join(', ')} or an architecture JSON file)`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`--model ${path}: not valid JSON (${(e as Error).message})`);
  }
}

function usesConv(arch: unknown): boolean {
  return JSON.stringify(arch).includes('"Conv2d"');
}

export interface ParsedSchedule {
  kind: 'inverse-time' | 'step' | 'cosine' | 'plateau';
  args: number[];
}

/** Parse `--lr-schedule`; a bad spec is a UsageError naming the accepted forms. */
export function parseSchedule(spec: string): ParsedSchedule {
  const forms = 'inverse-time:BETA, step:SIZE[,GAMMA], cosine[:ETA_MIN] or plateau[:PATIENCE[,FACTOR]]';
  const m = /^(inverse-time|step|cosine|plateau)(?::(.*))?$/.exec(spec.trim());
  if (!m) throw new UsageError(`--lr-schedule '${spec}': expected ${forms}`);
  const kind = m[1] as ParsedSchedule['kind'];
  const args = m[2] === undefined ? [] : m[2].split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  const bad = (why: string) => new UsageError(`--lr-schedule '${spec}': ${why} (expected ${forms})`);
  if (args.some((v) => !Number.isFinite(v) || v < 0)) throw bad('every parameter must be a non-negative number');
  switch (kind) {
    case 'inverse-time':
      if (args.length !== 1) throw bad('inverse-time takes one parameter, beta, in lr/(1 + beta·epoch)');
      break;
    case 'step':
      if (args.length < 1 || args.length > 2 || !Number.isInteger(args[0]) || args[0]! < 1) throw bad('step takes a positive integer SIZE (epochs) and an optional GAMMA');
      break;
    case 'cosine':
      if (args.length > 1) throw bad('cosine takes at most one parameter, the final lr');
      break;
    case 'plateau':
      if (args.length > 2 || (args.length > 0 && !Number.isInteger(args[0])) || (args.length > 1 && args[1]! >= 1)) {
        throw bad('plateau takes an optional integer PATIENCE and an optional FACTOR below 1');
      }
      break;
  }
  return { kind, args };
}

/** The run's settings from the flags and the model's defaults; refuses flags the model cannot use. */
export function resolveConfig(a: TrainArgs): RunConfig {
  const modelName = a.model ?? 'mlp';
  const isRef = (REFERENCE_MODELS as readonly string[]).includes(modelName);
  const architecture = isRef ? undefined : readArchitecture(modelName);
  const d: TrainingDefaults = isRef
    ? DEFAULTS[modelName as ReferenceName]
    : { ...DEFAULTS.mlp, input: usesConv(architecture) ? 'image' : 'flat' };
  const dataset = a.dataset ?? d.defaultDataset;
  const optimizer = a.optimizer ?? d.optimizer;
  if (a.momentum !== undefined && optimizer !== 'sgd' && optimizer !== 'rmsprop') {
    throw new UsageError(`--momentum applies to the sgd and rmsprop optimizers; this run uses ${optimizer}`);
  }
  if (a.dropout !== undefined && (!isRef || modelName === 'perceptron')) {
    throw new UsageError(`--dropout applies to the mlp, mlp-sgd and cnn reference models; ${modelName} ${isRef ? 'has no hidden layer' : 'is an architecture file: put Dropout layers in it'}`);
  }
  if (a.lrSchedule !== undefined) parseSchedule(a.lrSchedule);
  for (const k of ['textColumn', 'maxLength', 'tokenizer'] as const) {
    if (a[k] !== undefined) throw new UsageError(`${flagName(k)} applies to the text models (text-transformer, text-lstm, gpt); this run trains ${modelName}`);
  }
  return {
    model: modelName,
    architecture,
    dataset,
    epochs: a.epochs ?? d.epochs,
    batchSize: a.batchSize ?? d.batchSize,
    lr: a.lr ?? d.lr,
    optimizer,
    momentum: a.momentum ?? (optimizer === d.optimizer ? d.momentum : undefined),
    weightDecay: a.weightDecay,
    lrSchedule: a.lrSchedule,
    dropout: a.dropout,
    earlyStopping: a.earlyStopping,
    seed: a.seed ?? 0,
    valSplit: a.valSplit ?? (['and', 'or', 'xor'].includes(dataset) ? 0 : 0.1),
    labelColumn: a.labelColumn ?? 'label',
    checkpointEvery: a.checkpointEvery,
    loss: d.loss,
    layout: d.input,
    normalize: d.normalize,
  };
}

/**
 * The settings of the run in `dir` for --resume: run.json, with --epochs as the new length (Keras'
 * initial_epoch: the run continues to it). Any other training flag is refused, not ignored.
 */
export function resumeConfig(a: TrainArgs, saved: RunConfig): RunConfig {
  const given = Object.entries(a).filter(([k, v]) => v !== undefined && !RESUME_FLAGS.has(k)).map(([k]) => flagName(k));
  if (given.length > 0) {
    throw new UsageError(`--resume ${a.resume}: ${given.join(', ')} cannot change a run; it continues with the settings in its run.json (only --epochs may extend it); start a new run with --out to change them`);
  }
  if (a.epochs === undefined || a.epochs === saved.epochs) return saved;
  if (saved.lrSchedule !== undefined && parseSchedule(saved.lrSchedule).kind === 'cosine') {
    throw new UsageError(`--resume ${a.resume} --epochs ${a.epochs}: this run's cosine schedule spans its ${saved.epochs} epochs; extending it would change every learning rate (start a new run instead)`);
  }
  return { ...saved, epochs: a.epochs };
}

export function makeOptimizer(cfg: RunConfig, params: ReturnType<Module['parameters']>): Optimizer {
  const { lr, momentum, weightDecay } = cfg;
  const wd = weightDecay === undefined ? {} : { weightDecay };
  switch (cfg.optimizer) {
    case 'sgd':
      return new SGD(params, { lr, momentum: momentum ?? 0, ...wd });
    case 'adam':
      return new Adam(params, { lr, ...wd });
    case 'adamw':
      return new AdamW(params, { lr, ...wd });
    case 'adagrad':
      return new Adagrad(params, { lr, ...wd });
    case 'rmsprop':
      return new RMSprop(params, { lr, momentum: momentum ?? 0, ...wd });
  }
}

/** The scheduler for `cfg.lrSchedule`, stepped once per epoch by fit(). */
export function makeScheduler(cfg: RunConfig, optimizer: Optimizer): SchedulerLike | undefined {
  if (cfg.lrSchedule === undefined) return undefined;
  const { kind, args } = parseSchedule(cfg.lrSchedule);
  switch (kind) {
    case 'inverse-time':
      return new InverseTimeLR(optimizer, { beta: args[0]! });
    case 'step':
      return new StepLR(optimizer, { stepSize: args[0]!, gamma: args[1] ?? 0.1 });
    case 'cosine':
      return new CosineAnnealingLR(optimizer, { tMax: cfg.epochs, etaMin: args[0] ?? 0 });
    case 'plateau':
      return new ReduceLROnPlateau(optimizer, { patience: args[0] ?? 10, factor: args[1] ?? 0.1 }) as unknown as SchedulerLike;
  }
}

export function buildModel(cfg: RunConfig, data: PreparedData): Module {
  if (cfg.architecture !== undefined) return buildModule(cfg.architecture);
  const shape = data.input.shape;
  return buildReference(cfg.model as ReferenceName, {
    features: shape.reduce((a, b) => a * b, 1),
    channels: shape.length === 3 ? shape[0]! : 1,
    size: shape.length === 3 ? shape[1]! : 0,
    classes: data.classes.length,
  }, { dropout: cfg.dropout });
}

/** "1 epoch", "5 epochs". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
