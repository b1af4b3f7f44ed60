// `nabla tune`: hyper-parameter search over `nabla train` runs. Trials are drawn from a space
// (grid, random or TPE), run P at a time by an executor, stopped early by ASHA on the validation
// metric, and recorded in the tune directory after every event, so that a killed tune resumes
// without repeating finished trials. The best configurations are then repeated with other seeds,
// and the report says whether the winner is distinguishable from the runner-up.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { libraryVersion } from '../train/checkpoint.js';
import { Generator } from '../random.js';
import { ashaReport, type AshaOptions } from './asha.js';
import type { Executor, RunningTrial } from './executor.js';
import { gridPoints, parseSpace, sampleRandom, type Params, type Space } from './space.js';
import { loadState, metricOf, saveState, scoreOf, TuneError, type TrialRecord, type TuneSettings, type TuneState } from './state.js';
import { suggestTpe, type Observation } from './tpe.js';
import { mean, std, welch, type WelchResult } from './stats.js';
import type { EpochReport } from '../jobs/train-process.js';

export interface TuneOptions {
  dir: string;
  /** Continue the tune in `dir` (settings from its tune.json). */
  resume?: boolean;
  executor: (settings: TuneSettings) => Executor;
  /** Builds the architecture for a `width` parameter (mlp searches). */
  architecture?: (params: Params) => unknown;
  log?: (line: string) => void;
  onTrialEnd?: (t: TrialRecord) => void;
}

export interface RankedTrial {
  rank: number;
  id: number;
  params: Params;
  status: TrialRecord['status'];
  value: number | null;
  epochs: number;
  seconds: number | null;
}

export interface RepeatSummary {
  trial: number;
  params: Params;
  values: number[];
  mean: number;
  std: number;
}

export interface TuneReport {
  metric: string;
  mode: 'max' | 'min';
  ranking: RankedTrial[];
  best: { id: number; params: Params; value: number } | null;
  repeats: RepeatSummary[];
  /** Best vs runner-up over their repeats (Welch's t-test); null with fewer than 2 runs each. */
  comparison: (WelchResult & { distinguishable: boolean; verdict: string }) | null;
  trialSeconds: number;
}

const PARAM_FLAGS_SKIPPED = new Set(['width']);

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `nabla train` flags for a trial: the tune's fixed settings, then the drawn parameters. */
export function trainArgsFor(s: TuneSettings, params: Params, seed: number, withArchitecture: boolean): string[] {
  const a: string[] = [];
  if (!withArchitecture) a.push('--model', s.model);
  if (s.dataset) a.push('--dataset', s.dataset);
  if (s.epochs) a.push('--epochs', String(s.epochs));
  if (s.backend) a.push('--backend', s.backend);
  if (s.valSplit !== undefined) a.push('--val-split', String(s.valSplit));
  if (s.labelColumn) a.push('--label-column', s.labelColumn);
  a.push('--seed', String(seed));
  for (const [k, v] of Object.entries(params)) {
    if (PARAM_FLAGS_SKIPPED.has(k) || (withArchitecture && k === 'dropout')) continue;
    if (v === false) continue;
    a.push(`--${kebab(k)}`);
    if (v !== true) a.push(String(v));
  }
  return a;
}

function newState(s: TuneSettings): TuneState {
  return { format: 'nabla-tune', version: 1, nablaVersion: libraryVersion(), created: new Date().toISOString(), settings: s, trials: [], asha: { rungs: {} } };
}

export class Tune {
  readonly state: TuneState;
  private readonly space: Space;
  private readonly grid: Params[] | null;
  private readonly running = new Map<number, RunningTrial>();
  private readonly log: (l: string) => void;

  constructor(private readonly o: TuneOptions, settings?: TuneSettings) {
    if (o.resume) this.state = loadState(o.dir);
    else {
      if (!settings) throw new TuneError('tune: settings are needed for a new tune');
      this.state = newState(settings);
    }
    const s = this.state.settings;
    this.space = parseSpace(s.space);
    if (s.asha && (s.metric === 'testAccuracy' || s.metric === 'testLoss')) throw new TuneError(`ASHA stops trials on a per-epoch metric: use --metric valAccuracy or valLoss with it (or --no-asha)`);
    if ((s.metric === 'valAccuracy' || s.metric === 'valLoss') && s.valSplit === 0) throw new TuneError(`--metric ${s.metric} needs a validation split: --val-split must be above 0`);
    if ('width' in this.space.specs && !o.architecture) throw new TuneError(`the space's 'width' parameter needs --model mlp or mlp-sgd`);
    this.grid = s.algo === 'grid' ? gridPoints(this.space) : null;
    this.log = o.log ?? (() => {});
    mkdirSync(o.dir, { recursive: true });
    saveState(o.dir, this.state);
  }

  private get settings(): TuneSettings {
    return this.state.settings;
  }

  /** How many search trials the tune runs in all. */
  get searchTotal(): number {
    return this.grid ? Math.min(this.settings.trials, this.grid.length) : this.settings.trials;
  }

  private ashaOptions(): AshaOptions | null {
    const a = this.settings.asha;
    return a && this.settings.epochs ? { ...a, maxEpochs: this.settings.epochs } : null;
  }

  private score(v: number): number {
    return scoreOf(this.settings.mode, v);
  }

  private suggest(id: number): Params {
    const g = new Generator(this.settings.seed * 7919 + 104729 + id);
    if (this.grid) return this.grid[id];
    if (this.settings.algo === 'random') return sampleRandom(this.space, g);
    const history: Observation[] = [];
    for (const t of this.state.trials) {
      if (t.kind !== 'search' || t.value === undefined || !Number.isFinite(t.value)) continue;
      // A trial ASHA stopped early counts with its last score, below every full-budget one.
      const stoppedPenalty = t.status === 'stopped' ? -1e6 + t.epochs.length : 0;
      history.push({ params: t.params, score: this.score(t.value) + stoppedPenalty });
    }
    return suggestTpe(this.space, history, g);
  }

  /** The next trial to start: an unfinished one, a new search trial, or a repeat of a top one. */
  private next(): TrialRecord | null {
    const st = this.state;
    const waiting = st.trials.find((t) => (t.status === 'pending' || t.status === 'running') && !this.running.has(t.id));
    if (waiting) return waiting;
    const searched = st.trials.filter((t) => t.kind === 'search').length;
    if (searched < this.searchTotal) {
      const id = st.trials.length;
      const t: TrialRecord = { id, kind: 'search', params: this.suggest(id), seed: this.settings.seed, status: 'pending', dir: join('trials', String(id).padStart(4, '0')), epochs: [] };
      st.trials.push(t);
      return t;
    }
    if (this.running.size > 0) return null; // repeats start once the search is over
    if (this.settings.repeats > 1 && !st.trials.some((t) => t.kind === 'repeat')) {
      for (const top of this.topSearch(this.settings.topK)) {
        for (let j = 1; j < this.settings.repeats; j++) {
          const id = st.trials.length;
          st.trials.push({ id, kind: 'repeat', repeatOf: top.id, params: top.params, seed: this.settings.seed + j, status: 'pending', dir: join('trials', String(id).padStart(4, '0')), epochs: [] });
        }
      }
      return st.trials.find((t) => t.status === 'pending') ?? null;
    }
    return null;
  }

  /** Search trials that ran their full budget, best first. */
  private topSearch(k: number): TrialRecord[] {
    return this.state.trials
      .filter((t) => t.kind === 'search' && t.status === 'completed' && t.value !== undefined && Number.isFinite(t.value))
      .sort((a, b) => this.score(b.value!) - this.score(a.value!) || a.id - b.id)
      .slice(0, k);
  }

  private onEpoch(t: TrialRecord, e: EpochReport, handle: () => RunningTrial | undefined): void {
    if (t.epochs.some((x) => x.epoch === e.epoch)) return; // re-run after a resume
    t.epochs.push(e);
    const v = metricOf(this.settings.metric, e, undefined);
    if (v !== null) t.value = v;
    const asha = this.ashaOptions();
    if (asha && t.kind === 'search' && v !== null) {
      if (ashaReport(asha, this.state.asha, e.epoch, this.score(v)) === 'stop') {
        this.log(`trial ${t.id}: stopped by ASHA at epoch ${e.epoch} (${this.settings.metric} ${v.toFixed(4)})`);
        handle()?.stop();
      }
    }
    saveState(this.o.dir, this.state);
  }

  private launch(ex: Executor, t: TrialRecord): Promise<void> {
    const width = t.params.width;
    const architecture = width !== undefined ? this.o.architecture!(t.params) : undefined;
    t.status = 'running';
    saveState(this.o.dir, this.state);
    const h = ex.start({
      trainArgs: trainArgsFor(this.settings, t.params, t.seed, architecture !== undefined),
      architecture,
      runDir: join(this.o.dir, t.dir),
      jobId: t.jobId,
      pid: t.pid,
      onPid: (pid) => {
        t.pid = pid;
        saveState(this.o.dir, this.state);
      },
      onEpoch: (e) => this.onEpoch(t, e, () => this.running.get(t.id)),
      onJob: (id) => {
        t.jobId = id;
        saveState(this.o.dir, this.state);
      },
    });
    this.running.set(t.id, h);
    this.log(`trial ${t.id}${t.kind === 'repeat' ? ` (repeat of ${t.repeatOf}, seed ${t.seed})` : ''}: ${JSON.stringify(t.params)}`);
    return h.done.then((out) => {
      this.running.delete(t.id);
      delete t.pid;
      t.status = out.status;
      t.seconds = (t.seconds ?? 0) + out.seconds;
      if (out.worker) t.worker = out.worker;
      if (out.error) t.error = out.error;
      if (out.final) {
        t.final = out.final;
        const v = metricOf(this.settings.metric, t.epochs[t.epochs.length - 1], out.final);
        if (v !== null) t.value = v;
      }
      saveState(this.o.dir, this.state);
      this.log(`trial ${t.id}: ${t.status}${t.value !== undefined ? `, ${this.settings.metric} ${t.value.toFixed(4)}` : ''}${t.error ? ` (${t.error})` : ''}`);
      this.o.onTrialEnd?.(t);
    });
  }

  async run(): Promise<TuneReport> {
    const ex = this.o.executor(this.settings);
    const inflight = new Set<Promise<void>>();
    try {
      for (;;) {
        while (inflight.size < ex.slots) {
          if (!ex.canStart()) {
            if (inflight.size === 0) throw new TuneError(`cannot start a trial: ${ex.refusal}`);
            break;
          }
          const t = this.next();
          if (!t) break;
          const p: Promise<void> = this.launch(ex, t).finally(() => inflight.delete(p));
          inflight.add(p);
        }
        if (inflight.size === 0) break;
        await Promise.race(inflight);
      }
    } finally {
      await ex.close();
    }
    const report = this.report();
    saveState(this.o.dir, this.state);
    return report;
  }

  report(): TuneReport {
    const s = this.settings;
    const search = this.state.trials.filter((t) => t.kind === 'search');
    const order = (t: TrialRecord) => (t.status === 'completed' ? 2 : t.status === 'stopped' ? 1 : 0);
    const sorted = [...search].sort((a, b) =>
      order(b) - order(a) ||
      (order(a) === 1 ? b.epochs.length - a.epochs.length : 0) ||
      (a.value !== undefined && b.value !== undefined ? this.score(b.value) - this.score(a.value) : a.value === undefined ? 1 : -1) ||
      a.id - b.id);
    const ranking: RankedTrial[] = sorted.map((t, i) => ({ rank: i + 1, id: t.id, params: t.params, status: t.status, value: t.value ?? null, epochs: t.epochs.length, seconds: t.seconds ?? null }));
    const top = this.topSearch(s.topK);
    const repeats: RepeatSummary[] = top.map((t) => {
      const values = [t.value!, ...this.state.trials.filter((r) => r.repeatOf === t.id && r.status === 'completed' && r.value !== undefined).map((r) => r.value!)];
      return { trial: t.id, params: t.params, values, mean: mean(values), std: std(values) };
    });
    let comparison: TuneReport['comparison'] = null;
    if (repeats.length >= 2) {
      const w = welch(repeats[0].values, repeats[1].values);
      if (w) {
        // Order by the repeated means, not the single search run.
        const [a, b] = this.score(repeats[0].mean) >= this.score(repeats[1].mean) ? [repeats[0], repeats[1]] : [repeats[1], repeats[0]];
        const distinguishable = w.p < 0.05;
        const verdict = distinguishable
          ? `trial ${a.trial} is better than trial ${b.trial}: ${a.mean.toFixed(4)} ± ${a.std.toFixed(4)} vs ${b.mean.toFixed(4)} ± ${b.std.toFixed(4)} over ${a.values.length} and ${b.values.length} seeds (Welch p = ${w.p.toPrecision(2)})`
          : `trials ${a.trial} and ${b.trial} are not distinguishable: ${a.mean.toFixed(4)} ± ${a.std.toFixed(4)} vs ${b.mean.toFixed(4)} ± ${b.std.toFixed(4)} over ${a.values.length} and ${b.values.length} seeds (Welch p = ${w.p.toPrecision(2)} ≥ 0.05)`;
        comparison = { ...w, distinguishable, verdict };
      }
    }
    const bestT = top[0];
    return {
      metric: s.metric,
      mode: s.mode,
      ranking,
      best: bestT ? { id: bestT.id, params: bestT.params, value: bestT.value! } : null,
      repeats,
      comparison,
      trialSeconds: this.state.trials.reduce((a, t) => a + (t.seconds ?? 0), 0),
    };
  }
}

/** A one-screen text form of the report. */
export function formatReport(r: TuneReport, limit = 20): string {
  const lines: string[] = [];
  lines.push(`rank  trial  status     ${r.metric.padEnd(12)} epochs  params`);
  for (const t of r.ranking.slice(0, limit)) {
    lines.push(`${String(t.rank).padStart(4)}  ${String(t.id).padStart(5)}  ${t.status.padEnd(9)}  ${(t.value === null ? '-' : t.value.toFixed(4)).padEnd(12)} ${String(t.epochs).padStart(6)}  ${JSON.stringify(t.params)}`);
  }
  if (r.ranking.length > limit) lines.push(`… ${r.ranking.length - limit} more (tune.json has them all)`);
  for (const rep of r.repeats) lines.push(`trial ${rep.trial} over ${rep.values.length} seed(s): ${rep.mean.toFixed(4)} ± ${rep.std.toFixed(4)}`);
  if (r.comparison) lines.push(r.comparison.verdict);
  else if (r.repeats.length >= 2) lines.push('best vs runner-up: not enough repeats to compare (--repeats ≥ 2)');
  if (r.best) lines.push(`best: trial ${r.best.id} ${JSON.stringify(r.best.params)} (${r.metric} ${r.best.value.toFixed(4)})`);
  else lines.push('best: none (no trial ran its full budget)');
  return lines.join('\n');
}
