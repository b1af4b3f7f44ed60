// Shared set-up for the training tests, and the child process the kill -9 test runs.
// Run as a child (NABLA_RESUME_CHILD=1): trains the small seeded MLP with a checkpoint after every
// step (resuming when --resume is given), prints "step <n>" after each step, and at the end writes
// the final parameter bytes to --out. Loaded any other way (e.g. by `node --test dist/test/`) it
// does nothing.

import './slow-fs.js'; // first: patches node:fs before the library loads, when RESUME_CHILD_SLOW_MS is set
import { writeFileSync } from 'node:fs';
import { argmax, data, manualSeed, matmul, nn, optim, randn, type Tensor } from '../../src/index.js';
import { fit, type Callback, type FitOptions } from '../../src/train/index.js';

export interface Setup {
  model: InstanceType<typeof nn.Sequential>;
  loader: data.DataLoader<Tensor[]>;
  val: data.DataLoader<Tensor[]>;
  optimizer: optim.Optimizer;
  loss: (o: Tensor, t: Tensor) => Tensor;
}

export interface SetupOptions {
  seed?: number;
  samples?: number;
  batchSize?: number;
  hidden?: number;
  lr?: number;
  optimizer?: 'adam' | 'sgd';
  shuffle?: boolean;
  /** Sample index whose features are set to NaN. */
  nanAt?: number;
}

/** A 3-class problem with a shuffled loader, dropout and Adam — everything exact resume must carry. */
export function makeSetup(o: SetupOptions = {}): Setup {
  manualSeed(o.seed ?? 1234);
  const n = o.samples ?? 96;
  const x = randn([n, 8]);
  if (o.nanAt !== undefined) (x.data as Float32Array).fill(NaN, o.nanAt * 8, o.nanAt * 8 + 8);
  const teacher = randn([8, 3]);
  const y = argmax(matmul(x, teacher), 1);
  const xv = randn([40, 8]);
  const yv = argmax(matmul(xv, teacher), 1);
  const hidden = o.hidden ?? 16;
  const model = new nn.Sequential(new nn.Linear(8, hidden), new nn.ReLU(), new nn.Dropout(0.3), new nn.Linear(hidden, 3));
  const loader = new data.DataLoader(new data.TensorDataset(x, y), { batchSize: o.batchSize ?? 16, shuffle: o.shuffle ?? true });
  const val = new data.DataLoader(new data.TensorDataset(xv, yv), { batchSize: 20 });
  const optimizer = o.optimizer === 'sgd' ? new optim.SGD(model.parameters(), { lr: o.lr ?? 0.05, momentum: 0.9 }) : new optim.Adam(model.parameters(), { lr: o.lr ?? 0.01 });
  return { model, loader, val, optimizer, loss: (out, t) => nn.crossEntropy(out, t) };
}

/** The model's state tensors' bytes, concatenated in state-dict order. */
export function paramBytes(model: { stateDict(): Map<string, Tensor> }): Buffer {
  const parts: Buffer[] = [];
  for (const t of model.stateDict().values()) {
    const a = t.toTypedArray();
    parts.push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  }
  return Buffer.concat(parts);
}

export const quiet = (): void => {};

export function fitSetup(s: Setup, extra: Partial<FitOptions> = {}): ReturnType<typeof fit> {
  return fit(s.model, s.loader, { epochs: 3, optimizer: s.optimizer, loss: s.loss, validation: s.val, log: quiet, ...extra });
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.env.NABLA_RESUME_CHILD === '1') {
  const dir = arg('dir')!;
  const out = arg('out');
  const resume = process.argv.includes('--resume');
  const s = makeSetup();
  const progress: Callback = {
    name: 'ChildProgress',
    onBatchEnd: (ctx) => {
      process.stdout.write(`step ${ctx.globalStep}\n`);
    },
  };
  const history = fitSetup(s, {
    checkpointDir: dir,
    checkpointEvery: 1,
    resume: resume ? dir : undefined,
    scheduler: new optim.StepLR(s.optimizer, { stepSize: 1, gamma: 0.9 }),
    callbacks: [progress],
    log: (line) => process.stdout.write(`log ${line}\n`),
  });
  if (history.resumedFrom) process.stdout.write(`resumed ${history.resumedFrom.step}\n`);
  if (out) writeFileSync(out, paramBytes(s.model));
  process.stdout.write('done\n');
}
