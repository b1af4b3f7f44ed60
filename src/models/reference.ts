// SPEC §1's reference workloads: the networks and their training settings, reproduced exactly.

import * as nn from '../nn/index.js';
import type { Module } from '../nn/index.js';
import { ValueError } from '../errors.js';

export type ReferenceName = 'mlp' | 'cnn' | 'mlp-sgd' | 'perceptron';
export const REFERENCE_MODELS: readonly ReferenceName[] = ['mlp', 'cnn', 'mlp-sgd', 'perceptron'];

export type OptimizerName = 'sgd' | 'adam' | 'adamw' | 'adagrad' | 'rmsprop';

export interface TrainingDefaults {
  optimizer: OptimizerName;
  lr: number;
  momentum?: number;
  batchSize: number;
  epochs: number;
  /** 'crossEntropy' on logits with class indices, or ½(y−ŷ)² for the perceptron. */
  loss: 'crossEntropy' | 'halfSquaredError';
  /** The input layout the network expects. */
  input: 'flat' | 'image';
  /** (x − mean) / std after scaling pixels to [0, 1]. */
  normalize?: { mean: number; std: number };
  defaultDataset: string;
}

export const DEFAULTS: Record<ReferenceName, TrainingDefaults> = {
  mlp: { optimizer: 'adam', lr: 1e-3, batchSize: 64, epochs: 10, loss: 'crossEntropy', input: 'flat', normalize: { mean: 0.5, std: 0.5 }, defaultDataset: 'mnist-bundled' },
  cnn: { optimizer: 'adam', lr: 1e-3, batchSize: 32, epochs: 5, loss: 'crossEntropy', input: 'image', normalize: { mean: 0.5, std: 0.5 }, defaultDataset: 'mnist-bundled' },
  'mlp-sgd': { optimizer: 'sgd', lr: 1e-3, momentum: 0.9, batchSize: 100, epochs: 2, loss: 'crossEntropy', input: 'flat', normalize: { mean: 0.5, std: 0.5 }, defaultDataset: 'mnist-bundled' },
  // The spec leaves the perceptron's step size and length open; these learn AND/OR reliably.
  perceptron: { optimizer: 'sgd', lr: 1.0, batchSize: 4, epochs: 2000, loss: 'halfSquaredError', input: 'flat', defaultDataset: 'and' },
};

/** Linear 784→256, ReLU, Dropout 0.5, Linear 256→128, ReLU, Dropout 0.5, Linear 128→10. */
export function mlp(inFeatures = 784, numClasses = 10, dropout = 0.5): Module {
  const layers: Module[] = [new nn.Flatten(), new nn.Linear(inFeatures, 256), new nn.ReLU()];
  if (dropout > 0) layers.push(new nn.Dropout(dropout));
  layers.push(new nn.Linear(256, 128), new nn.ReLU());
  if (dropout > 0) layers.push(new nn.Dropout(dropout));
  layers.push(new nn.Linear(128, numClasses));
  return new nn.Sequential(...layers);
}

/**
 * Conv 3×3×32 ReLU, MaxPool 2, Conv 3×3×64 ReLU, MaxPool 2, Conv 3×3×64 ReLU, Flatten, Dense 64
 * ReLU, Dense 10. With dropout > 0, a Dropout after the Flatten (where Keras' MNIST convnet puts it).
 */
export function cnn(inChannels = 1, size = 28, numClasses = 10, dropout = 0): Module {
  const s1 = Math.floor((size - 2) / 2);
  const s2 = Math.floor((s1 - 2) / 2);
  const s3 = s2 - 2;
  if (s3 < 1) throw new ValueError(`cnn: input images of ${size}×${size} are too small for three 3×3 convolutions and two 2×2 pools`);
  return new nn.Sequential(
    new nn.Conv2d(inChannels, 32, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(64, 64, 3), new nn.ReLU(), new nn.Flatten(),
    ...(dropout > 0 ? [new nn.Dropout(dropout)] : []),
    new nn.Linear(64 * s3 * s3, 64), new nn.ReLU(), new nn.Linear(64, numClasses),
  );
}

/** One sigmoid unit with two inputs. */
export function perceptron(inFeatures = 2): Module {
  return new nn.Sequential(new nn.Linear(inFeatures, 1), new nn.Sigmoid());
}

/** A reference network for the data's shape; `dropout` replaces the model's own rate (mlp 0.5, mlp-sgd and cnn 0). */
export function buildReference(
  name: ReferenceName,
  shape: { features: number; channels: number; size: number; classes: number },
  opts: { dropout?: number } = {},
): Module {
  switch (name) {
    case 'mlp':
      return mlp(shape.features, shape.classes, opts.dropout ?? 0.5);
    case 'mlp-sgd':
      return mlp(shape.features, shape.classes, opts.dropout ?? 0);
    case 'cnn':
      return cnn(shape.channels, shape.size, shape.classes, opts.dropout ?? 0);
    case 'perceptron':
      return perceptron(shape.features);
  }
}
