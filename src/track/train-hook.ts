// What `nabla train` records: a Tracker (and a TensorBoard writer with --tensorboard) as fit()
// callbacks, then the test evaluation and the artefacts once the model is saved. Kept here so the
// training command needs only a few lines to take part.

import { dirname, join } from 'node:path';
import type { Tensor } from '../tensor.js';
import type { Callback } from '../train/callbacks.js';
import { TensorBoardCallback } from './tensorboard.js';
import { hashTensors, Tracker } from './tracker.js';
import { StoreError, TrackingStore } from './store.js';

export interface TrackArgs {
  /** Store path (default: nabla.db beside the run directory, i.e. runs/nabla.db by default). */
  store?: string;
  /** false with --no-track. */
  track?: boolean;
  /** Also write TensorBoard event files here. */
  tensorboard?: string;
}

export interface TrainTracking {
  callbacks: Callback[];
  /** After the model is saved: the test evaluation, the artefacts, and the run marked finished. */
  finish(test: Record<string, unknown>, modelDir: string, classes: string[]): void;
  storePath: string | undefined;
}

export function defaultStorePath(runDir: string): string {
  return join(dirname(runDir), 'nabla.db');
}

export function startTracking(a: TrackArgs, info: { runDir: string; config: Record<string, unknown>; dataset: string; data: { train: { tensors: Tensor[] }; test: { tensors: Tensor[] } } }): TrainTracking {
  const callbacks: Callback[] = [];
  let tracker: Tracker | undefined;
  if (a.track !== false) {
    const store = a.store ?? defaultStorePath(info.runDir);
    try {
      TrackingStore.open(store).close(); // fail before training, with the way out in the message
    } catch (e) {
      throw new StoreError(e instanceof StoreError ? e.code : 'E_STORE_OPEN', `${(e as Error).message} (pass --store PATH for another store, or --no-track)`);
    }
    tracker = new Tracker({
      store,
      runName: info.runDir.split(/[\\/]/).filter(Boolean).at(-1),
      config: info.config,
      dataset: { name: info.dataset, hash: hashTensors([...info.data.train.tensors, ...info.data.test.tensors]) },
      runDir: info.runDir,
      finishOnTrainEnd: false,
    });
    callbacks.push(tracker);
  }
  let tb: TensorBoardCallback | undefined;
  if (a.tensorboard) callbacks.push((tb = new TensorBoardCallback(a.tensorboard)));
  let checkpointsLogged = false;
  // the checkpoint directory is an artefact as soon as training starts (a killed run resumes from it)
  if (tracker) {
    const t = tracker;
    callbacks.push({
      name: 'TrackerArtifacts',
      onTrainBegin() {
        if (checkpointsLogged) return;
        t.logArtifact('checkpoint', join(info.runDir, 'checkpoints'));
        if (a.tensorboard) t.logArtifact('tensorboard', a.tensorboard);
        checkpointsLogged = true;
      },
    });
  }
  return {
    callbacks,
    storePath: tracker?.store.path,
    finish(test, modelDir, classes) {
      tb?.close();
      if (!tracker) return;
      const { confusion, perClass, ...scalars } = test as { confusion?: number[][]; perClass?: unknown };
      const metrics: Record<string, unknown> = { ...scalars };
      if (perClass !== undefined) metrics.perClass = perClass;
      tracker.logEvaluation({ metrics, classes, confusion });
      tracker.logArtifact('model', modelDir);
      tracker.end('finished');
      tracker.close();
    },
  };
}
