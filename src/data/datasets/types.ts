// Shapes shared by the image datasets. Plain typed arrays, independent of the Tensor class.

import { NablaError } from '../../errors.js';

export interface ImageSet {
  /** count × rows × cols, row-major, values in [0,1]. */
  images: Float32Array;
  /** count labels, each in [0, classes.length). */
  labels: Int32Array;
  count: number;
  rows: number;
  cols: number;
  /** Class names; label i means classes[i]. */
  classes: string[];
}

export interface TrainTest {
  train: ImageSet;
  test: ImageSet;
}

/** A dataset that is missing, inconsistent (counts, shapes, label range) or cannot be loaded. */
export class DatasetError extends NablaError {
  constructor(message: string) {
    super('E_DATASET', message);
  }
}
