// Batching token sequences: truncation to a maximum length (said once, not per sample), padding,
// attention masks, and a seeded length-bucketing sampler so a batch holds texts of similar length
// (less padding, the same batches for the same seed).
//
// Mask conventions, both int32 [B, L], both PyTorch's for the op they feed:
// - attentionMask: 1 = a real token, 0 = padding. Hugging Face's `attention_mask`, and the boolean
//   convention of F.scaledDotProductAttention (1 = takes part).
// - keyPaddingMask: 1 = padding, 0 = a real token. nn.MultiheadAttention's keyPaddingMask and
//   nn.TransformerEncoder's srcKeyPaddingMask (PyTorch's True = ignore). keyPaddingMask = 1 − attentionMask.

import { ValueError } from '../errors.js';
import { Generator, randperm } from '../random.js';
import { tensor, type Tensor } from '../tensor.js';

/** One tokenized text, with its class for classification. */
export interface TextSample {
  inputIds: ArrayLike<number>;
  label?: number;
}

export interface TextBatch {
  /** int32 [B, L]. */
  inputIds: Tensor;
  /** int32 [B, L]: 1 = token, 0 = padding (F.scaledDotProductAttention's boolean convention). */
  attentionMask: Tensor;
  /** int32 [B, L]: 1 = padding (nn.MultiheadAttention / nn.TransformerEncoder convention). */
  keyPaddingMask: Tensor;
  /** int32 [B]: tokens per row before padding (after truncation). */
  lengths: Tensor;
  /** int32 [B], when the samples have labels. */
  labels?: Tensor;
}

export interface PadCollateOptions {
  /** Id written into padded positions (the tokenizer's padId). */
  padId: number;
  /** Longer sequences are cut to this many tokens (keeping the start); a warning says so once. */
  maxLength?: number;
  /** 'longest' (default): pad to the longest row of the batch; 'maxLength': always to maxLength. */
  padTo?: 'longest' | 'maxLength';
  /** Padding after the tokens (default 'right') or before them ('left', for decoder-only prompts). */
  padSide?: 'right' | 'left';
  /** Round the padded length up to a multiple of this (default 1). */
  padToMultipleOf?: number;
  /** Receives the truncation notice (once per collate function). Default: process.emitWarning. */
  warn?: (message: string) => void;
}

export const defaultTextWarn = (m: string): void => {
  process.emitWarning(m, 'NablaTextWarning');
};

function checkPositiveInt(what: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new ValueError(`${what} must be a positive integer, got ${v}`);
}

/**
 * A collate function for DataLoader: samples of token ids → a TextBatch. Empty samples are
 * refused: a row of padding alone has nothing to attend to (softmax over no keys is NaN).
 */
export function padCollate(opts: PadCollateOptions): (samples: TextSample[]) => TextBatch {
  const { padId, maxLength } = opts;
  if (!Number.isInteger(padId) || padId < 0) throw new ValueError(`padCollate: padId must be a non-negative integer, got ${padId}`);
  checkPositiveInt('padCollate: maxLength', maxLength);
  checkPositiveInt('padCollate: padToMultipleOf', opts.padToMultipleOf);
  const padTo = opts.padTo ?? 'longest';
  if (padTo !== 'longest' && padTo !== 'maxLength') throw new ValueError(`padCollate: padTo must be 'longest' or 'maxLength', got ${JSON.stringify(padTo)}`);
  if (padTo === 'maxLength' && maxLength === undefined) throw new ValueError("padCollate: padTo 'maxLength' needs maxLength");
  const left = (opts.padSide ?? 'right') === 'left';
  const multiple = opts.padToMultipleOf ?? 1;
  const warn = opts.warn ?? defaultTextWarn;
  let warned = false;
  return (samples: TextSample[]): TextBatch => {
    if (samples.length === 0) throw new ValueError('padCollate: no samples to collate');
    const lens = new Int32Array(samples.length);
    let longest = 0;
    let cut = 0;
    samples.forEach((s, k) => {
      const n = s?.inputIds?.length;
      if (!Number.isInteger(n)) throw new ValueError(`padCollate: sample ${k} has no inputIds array; expected { inputIds, label? }`);
      if (n === 0) throw new ValueError(`padCollate: sample ${k} has no tokens (an empty text); expected at least one token per text`);
      let len = n;
      if (maxLength !== undefined && len > maxLength) {
        len = maxLength;
        cut++;
      }
      lens[k] = len;
      if (len > longest) longest = len;
    });
    if (cut > 0 && !warned) {
      warned = true;
      warn(`texts longer than maxLength ${maxLength} tokens are truncated to their first ${maxLength} tokens (${cut} in the first batch that had any; said once)`);
    }
    let L = padTo === 'maxLength' ? maxLength! : longest;
    L = Math.ceil(L / multiple) * multiple;
    const B = samples.length;
    const ids = new Int32Array(B * L).fill(padId);
    const mask = new Int32Array(B * L);
    const labels = new Int32Array(B);
    let labelled = 0;
    for (let k = 0; k < B; k++) {
      const src = samples[k].inputIds;
      const n = lens[k];
      const off = k * L + (left ? L - n : 0);
      for (let j = 0; j < n; j++) {
        const id = src[j];
        if (!Number.isInteger(id) || id < 0) throw new ValueError(`padCollate: sample ${k} token ${j} is ${id}; expected a non-negative integer id`);
        ids[off + j] = id;
        mask[off + j] = 1;
      }
      const lab = samples[k].label;
      if (lab !== undefined) {
        if (!Number.isInteger(lab)) throw new ValueError(`padCollate: sample ${k} label is ${lab}; expected an integer class index`);
        labels[k] = lab;
        labelled++;
      }
    }
    if (labelled !== 0 && labelled !== B) throw new ValueError(`padCollate: ${labelled} of ${B} samples have a label; expected all or none`);
    const pad = new Int32Array(B * L);
    for (let i = 0; i < pad.length; i++) pad[i] = 1 - mask[i];
    const batch: TextBatch = {
      inputIds: tensor(ids, { dtype: 'int32', shape: [B, L] }),
      attentionMask: tensor(mask, { dtype: 'int32', shape: [B, L] }),
      keyPaddingMask: tensor(pad, { dtype: 'int32', shape: [B, L] }),
      lengths: tensor(lens, { dtype: 'int32' }),
    };
    if (labelled) batch.labels = tensor(labels, { dtype: 'int32' });
    return batch;
  };
}

export interface BucketSamplerOptions {
  batchSize: number;
  /** Samples sorted together: batchSize × poolBatches at a time (default 50). Larger pools give
   *  tighter buckets and less randomness. */
  poolBatches?: number;
}

/**
 * Bucketing by length for DataLoader's `sampler` option: each epoch, shuffle the indices (seeded by
 * the loader's generator), sort each pool of batchSize × poolBatches samples by length, cut the
 * pools into batches and shuffle the order of the full batches. Consecutive runs of batchSize
 * indices are then batches of similar length; a short last batch stays last, so the loader's
 * batch boundaries fall on bucket boundaries. Give the loader the same batchSize.
 */
export function bucketSampler(lengths: ArrayLike<number>, opts: BucketSamplerOptions): (n: number, generator: Generator) => Int32Array {
  const bs = opts.batchSize;
  checkPositiveInt('bucketSampler: batchSize', bs);
  const poolBatches = opts.poolBatches ?? 50;
  checkPositiveInt('bucketSampler: poolBatches', poolBatches);
  const lens = Int32Array.from(lengths);
  return (n: number, g: Generator): Int32Array => {
    if (n !== lens.length) throw new ValueError(`bucketSampler: made for ${lens.length} samples, the dataset has ${n}`);
    const perm = randperm(n, { generator: g }).data as Int32Array;
    const pool = bs * poolBatches;
    const full: Int32Array[] = [];
    let tail: Int32Array | null = null;
    for (let p = 0; p < n; p += pool) {
      // Stable sort of a shuffled pool: equal lengths keep their random order.
      const chunk = Array.from(perm.subarray(p, Math.min(p + pool, n))).sort((a, b) => lens[a] - lens[b]);
      for (let b = 0; b < chunk.length; b += bs) {
        const batch = Int32Array.from(chunk.slice(b, b + bs));
        if (batch.length === bs) full.push(batch);
        else tail = batch;
      }
    }
    const order = randperm(full.length, { generator: g }).data as Int32Array;
    const out = new Int32Array(n);
    let o = 0;
    for (let i = 0; i < order.length; i++) {
      out.set(full[order[i]], o);
      o += bs;
    }
    if (tail) out.set(tail, o);
    return out;
  };
}
