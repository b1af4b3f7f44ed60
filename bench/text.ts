// Nabla against PyTorch 1.13 CPU on the text reference models, side by side in one run:
//   text-transformer, text-lstm  spam-assassin: test accuracy, step time
//   gpt                          ham e-mails of spam-assassin as a corpus: validation loss, step
//                                time, and `generate` tokens/s at batch 1 (both with a KV cache)
// The data is prepared once by Nabla's pipeline (tokenizer, stratified split, truncation) and the
// token ids are handed to bench/peers/torch_text.py, so both train on exactly the same inputs.
// Runs alternate Nabla / PyTorch per model (interleaved, so load drifts hit both alike).
//
//   node dist/bench/text.js [--quick] [--models text-transformer,text-lstm,gpt] [--backend NAME] [--repeats N]

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setBackend, getBackend } from '../src/backend/backend.js';
import { noGrad } from '../src/autograd.js';
import '../src/index.js';
import { spamAssassinTexts } from '../src/data/text-datasets.js';
import { generate } from '../src/models/generate.js';
import { TEXT_DEFAULTS, buildTextReference, type TextModelName } from '../src/models/text-reference.js';
import type { GPT } from '../src/models/text.js';
import { crossEntropy, type Module } from '../src/nn/index.js';
import { AdamW, WarmupCosineLR } from '../src/optim/index.js';
import { Generator, manualSeed } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { EncodedTextDataset, LmWindowDataset, encodeTexts } from '../src/cli/train-text-data.js';
import { lmLoss, lmSplit, makeTokenizer } from '../src/cli/train-text.js';
import { loadSpamAssassinSplit } from '../src/cli/train-text-spam.js';
import { DataLoader } from '../src/data/loader.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const opt = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = flag('--quick');
const MODELS = (opt('--models') ?? 'text-transformer,text-lstm,gpt').split(',') as TextModelName[];
const REPEATS = Number(opt('--repeats') ?? 1);
if (opt('--backend')) setBackend(opt('--backend')!);
const PEER = fileURLToPath(new URL('../../bench/peers/torch_text.py', import.meta.url));
const SEED = 0;

interface Side {
  stepSeconds: number[];
  testAccuracy?: number;
  valLoss?: number;
  tokensPerSecond?: number;
}

// --quick: a subset and short sequences (a few minutes); full: the settings.
const settings = (m: TextModelName) => {
  const d = TEXT_DEFAULTS[m];
  return {
    maxLength: QUICK ? (m === 'gpt' ? 64 : 128) : d.maxLength,
    epochs: QUICK ? 1 : d.epochs,
    maxSteps: QUICK ? 40 : 0,
    batchSize: d.batchSize, lr: d.lr, weightDecay: d.weightDecay, warmupFraction: d.warmupFraction,
  };
};

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[s.length >> 1]! : NaN;
};

function nablaRun(m: TextModelName, data: PreparedBench): Side {
  const s = settings(m);
  manualSeed(SEED);
  const model: Module = buildTextReference(m, { vocabSize: data.vocabSize, numClasses: Math.max(1, data.classes.length), maxLength: s.maxLength, padId: data.padId });
  const train = data.train;
  const loader = new DataLoader(train as EncodedTextDataset, { batchSize: s.batchSize, shuffle: true, generator: new Generator(SEED + 2) });
  let total = loader.length * s.epochs;
  if (s.maxSteps) total = Math.min(total, s.maxSteps);
  const o = new AdamW(model.parameters(), { lr: s.lr, weightDecay: s.weightDecay });
  const sched = new WarmupCosineLR(o, { warmupSteps: Math.floor(total * s.warmupFraction), totalSteps: total });
  const lossFn = m === 'gpt' ? lmLoss : (out: Tensor, y: Tensor) => crossEntropy(out, y);
  const times: number[] = [];
  model.train();
  let step = 0;
  for (let e = 0; e < s.epochs && step < total; e++) {
    for (const [x, y] of loader as Iterable<[Tensor, Tensor]>) {
      if (step >= total) break;
      const t0 = performance.now();
      const loss = lossFn(model.forward(x) as Tensor, y);
      o.zeroGrad();
      loss.backward();
      o.step();
      sched.step();
      times.push((performance.now() - t0) / 1000);
      step++;
    }
  }
  model.eval();
  const out: Side = { stepSeconds: times };
  noGrad(() => {
    if (m === 'gpt') {
      let sum = 0, n = 0;
      for (const [x, y] of new DataLoader(data.test as LmWindowDataset, { batchSize: s.batchSize }) as Iterable<[Tensor, Tensor]>) {
        sum += lmLoss(model.forward(x) as Tensor, y).item() * y.numel();
        n += y.numel();
      }
      out.valLoss = sum / n;
      const [px] = (data.test as LmWindowDataset).get(0);
      const prompt = Array.from(px.subarray(0, data.promptTokens));
      const nNew = Math.min(data.generateTokens, s.maxLength - prompt.length);
      const t0 = performance.now();
      const ids = generate(model as unknown as GPT, prompt, { maxTokens: nNew, temperature: 0 });
      out.tokensPerSecond = ids.length / ((performance.now() - t0) / 1000);
    } else {
      let correct = 0, n = 0;
      for (const [x, y] of new DataLoader(data.test as EncodedTextDataset, { batchSize: 256 }) as Iterable<[Tensor, Tensor]>) {
        const pred = (model.forward(x) as Tensor).argmax(1).toTypedArray();
        const yy = y.toTypedArray();
        for (let i = 0; i < yy.length; i++) if (pred[i] === yy[i]) correct++;
        n += yy.length;
      }
      out.testAccuracy = correct / n;
    }
  });
  return out;
}

interface PreparedBench {
  vocabSize: number;
  padId: number;
  classes: string[];
  train: EncodedTextDataset | LmWindowDataset;
  test: EncodedTextDataset | LmWindowDataset;
  peerSpec: Record<string, unknown>;
  promptTokens: number;
  generateTokens: number;
}

async function prepare(m: TextModelName): Promise<PreparedBench> {
  const s = settings(m);
  if (m === 'gpt') {
    // A corpus every machine with nabla has: the ham e-mails of spam-assassin (headers included).
    const d = spamAssassinTexts();
    let corpus = d.texts.filter((_, i) => d.labels[i] === 0).join('\n');
    corpus = corpus.slice(0, QUICK ? 200_000 : 2_000_000);
    const cut = Math.floor(corpus.length * 0.9);
    const tok = makeTokenizer('char', () => corpus.slice(0, cut));
    const stream = Int32Array.from(tok.encode(corpus));
    const { train, val } = lmSplit(stream, s.maxLength);
    const cutTok = Math.floor(stream.length * 0.9);
    return {
      vocabSize: tok.vocabSize, padId: tok.padId, classes: [], train, test: val, promptTokens: 16, generateTokens: QUICK ? 48 : 112,
      peerSpec: { train: Array.from(stream.subarray(0, cutTok)), val: Array.from(stream.subarray(cutTok)) },
    };
  }
  const data = await loadSpamAssassinSplit(SEED);
  let { trainTexts, trainLabels } = data;
  if (QUICK) {
    trainTexts = trainTexts.slice(0, 1200);
    trainLabels = trainLabels.slice(0, 1200);
  }
  const tok = makeTokenizer('wordpiece:8000', () => trainTexts, s.maxLength * 8);
  const tr = encodeTexts(tok, trainTexts, s.maxLength), te = encodeTexts(tok, data.testTexts, s.maxLength);
  return {
    vocabSize: tok.vocabSize, padId: tok.padId, classes: data.classes, promptTokens: 0, generateTokens: 0,
    train: new EncodedTextDataset(tr.ids, trainLabels, tok.padId),
    test: new EncodedTextDataset(te.ids, data.testLabels, tok.padId),
    peerSpec: { train: { ids: tr.ids.map((a) => Array.from(a)), labels: trainLabels }, test: { ids: te.ids.map((a) => Array.from(a)), labels: data.testLabels } },
  };
}

function torchRun(m: TextModelName, data: PreparedBench, dir: string): Side {
  const s = settings(m);
  const path = join(dir, `${m}.json`);
  writeFileSync(path, JSON.stringify({
    model: m, seed: SEED, vocabSize: data.vocabSize, padId: data.padId, classes: data.classes, ...s,
    promptTokens: data.promptTokens, generateTokens: data.generateTokens, ...data.peerSpec,
  }));
  const r = spawnSync('/usr/bin/python3', [PEER, path], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`torch peer failed for ${m}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Side;
}

const dir = mkdtempSync(join(tmpdir(), 'nabla-bench-text-'));
try {
  console.log(`bench/text: ${QUICK ? 'quick' : 'full'} run, Nabla backend ${getBackend().name}, models ${MODELS.join(', ')}, ${REPEATS} repeat(s)`);
  for (const m of MODELS) {
    const data = await prepare(m);
    const runs: { nabla: Side; torch: Side }[] = [];
    for (let r = 0; r < REPEATS; r++) {
      // alternate which side goes first
      let nab: Side, tor: Side;
      if (r % 2 === 0) {
        nab = nablaRun(m, data);
        tor = torchRun(m, data, dir);
      } else {
        tor = torchRun(m, data, dir);
        nab = nablaRun(m, data);
      }
      runs.push({ nabla: nab, torch: tor });
    }
    const skip = (a: number[]) => a.slice(Math.min(3, a.length - 1)); // the first steps warm up both
    const stepN = median(runs.map((x) => median(skip(x.nabla.stepSeconds))));
    const stepT = median(runs.map((x) => median(skip(x.torch.stepSeconds))));
    const last = runs.at(-1)!;
    const row: Record<string, unknown> = {
      model: m, steps: last.nabla.stepSeconds.length, stepMsNabla: +(stepN * 1000).toFixed(2), stepMsTorch: +(stepT * 1000).toFixed(2), stepTimeRatio: +(stepN / stepT).toFixed(3),
    };
    if (m === 'gpt') {
      Object.assign(row, {
        valLossNabla: last.nabla.valLoss, valLossTorch: last.torch.valLoss, valLossRatio: +(last.nabla.valLoss! / last.torch.valLoss!).toFixed(4),
        generateTokensPerSecondNabla: +last.nabla.tokensPerSecond!.toFixed(1), generateTokensPerSecondTorch: +last.torch.tokensPerSecond!.toFixed(1),
        generateSpeedRatio: +(last.nabla.tokensPerSecond! / last.torch.tokensPerSecond!).toFixed(3),
      });
    } else {
      Object.assign(row, {
        testAccuracyNabla: last.nabla.testAccuracy, testAccuracyTorch: last.torch.testAccuracy,
        accuracyGapPoints: +((last.nabla.testAccuracy! - last.torch.testAccuracy!) * 100).toFixed(2),
      });
    }
    console.log(JSON.stringify(row));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
