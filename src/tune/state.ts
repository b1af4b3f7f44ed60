// A tune's directory: tune.json (the settings and every trial's record, rewritten atomically after
// each event, so a `kill -9` loses at most the event in flight) and trials/NNNN/, each a normal
// `nabla train` run directory (checkpoints, resume, model).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { NablaError } from '../errors.js';
import type { AshaState } from './asha.js';
import type { EpochReport, FinalReport } from '../jobs/train-process.js';
import type { Params } from './space.js';

export class TuneError extends NablaError {
  constructor(message: string) {
    super('E_TUNE', message);
  }
}

export type Algo = 'grid' | 'random' | 'tpe';
export type Metric = 'valAccuracy' | 'valLoss' | 'testAccuracy' | 'testLoss';

export interface TuneSettings {
  model: string;
  dataset?: string;
  /** The full budget of each trial. */
  epochs?: number;
  backend?: string;
  valSplit?: number;
  labelColumn?: string;
  space: unknown;
  algo: Algo;
  trials: number;
  metric: Metric;
  mode: 'max' | 'min';
  parallel: number;
  seed: number;
  /** ASHA; null = every trial runs its full budget. */
  asha: { gracePeriod: number; reductionFactor: number } | null;
  /** How many of the best configurations are repeated with other seeds, and how often each runs in all. */
  topK: number;
  repeats: number;
  /** Threads per trial (cores ÷ parallel unless given). */
  threadsPerTrial: number;
  /** Free memory a trial needs before it starts, MB. */
  trialMemoryMb: number;
  /** redis://host:port when trials run on queue workers. */
  queue?: string;
  queueName?: string;
  priority?: number;
}

export type TrialStatus = 'pending' | 'running' | 'completed' | 'stopped' | 'failed';

export interface TrialRecord {
  id: number;
  kind: 'search' | 'repeat';
  /** For a repeat: the search trial whose configuration it repeats. */
  repeatOf?: number;
  params: Params;
  seed: number;
  status: TrialStatus;
  /** Run directory, relative to the tune directory (embedded executor). */
  dir: string;
  epochs: EpochReport[];
  final?: FinalReport;
  /** The metric (in its own sign) at the end of the trial, or at its last epoch when stopped. */
  value?: number;
  error?: string;
  seconds?: number;
  /** Queue executor: the job and the worker that ran it. */
  jobId?: string;
  worker?: string;
  /** Embedded executor: the trial's process while it runs. */
  pid?: number;
}

export interface TuneState {
  format: 'nabla-tune';
  version: 1;
  nablaVersion: string;
  created: string;
  settings: TuneSettings;
  trials: TrialRecord[];
  asha: AshaState;
}

export const STATE_FILE = 'tune.json';

export function saveState(dir: string, st: TuneState): void {
  writeFileAtomic(join(dir, STATE_FILE), JSON.stringify(st, null, 1) + '\n');
}

export function loadState(dir: string): TuneState {
  const p = join(dir, STATE_FILE);
  if (!existsSync(p)) throw new TuneError(`--resume ${dir}: ${p} not found (expected a directory written by \`nabla tune --out\`)`);
  let st: TuneState;
  try {
    st = JSON.parse(readFileSync(p, 'utf8')) as TuneState;
  } catch (e) {
    throw new TuneError(`${p}: not valid JSON (${(e as Error).message})`);
  }
  if (st.format !== 'nabla-tune' || st.version !== 1 || !Array.isArray(st.trials)) throw new TuneError(`${p}: not a nabla tune state (format ${JSON.stringify(st.format)}, version ${JSON.stringify(st.version)})`);
  return st;
}

/** The metric of an epoch or final report; null where the run did not produce it. */
export function metricOf(metric: Metric, e: EpochReport | undefined, f: FinalReport | undefined): number | null {
  switch (metric) {
    case 'valAccuracy':
      return e?.valAccuracy ?? null;
    case 'valLoss':
      return e?.valLoss ?? null;
    case 'testAccuracy':
      return f?.test.accuracy ?? null;
    case 'testLoss':
      return f?.test.loss ?? null;
  }
}

/** Higher is better, whatever the mode. */
export function scoreOf(mode: 'max' | 'min', v: number): number {
  return mode === 'max' ? v : -v;
}
