// Issue 11's generation goal: `nabla generate` tokens/s at batch 1 ≥ PyTorch 1.13's eager loop with
// a KV cache. Both sides generate from the same weights: Nabla's gpt (the reference shape: 4
// layers, d 128, 4 heads, context 128), seeded-initialised or loaded from a trained model
// directory, is written to safetensors and loaded by bench/peers/torch_generate.py (a long-running
// process, so interpreter start and model load are paid once). Same prompt, same number of new
// tokens, greedy and top-k sampling, batch 1. Runs come in interleaved pairs (Nabla then PyTorch,
// PyTorch then Nabla, ...); the figure is the median of the per-pair tokens/s ratios
// (Nabla / PyTorch, > 1 = Nabla faster), with min–max, CPU time per token of each side (and its
// per-pair ratio) and the load average. Greedy runs also check the two agree on the generated ids (same model, same
// argmax: only near-ties in float32 rounding can make them part).
//
//   node dist/bench/generate.js [--backend blas|wasm|js] [--pairs 7] [--modes greedy,topk]
//        [--vocab 256] [--prompt-tokens 16] [--new-tokens 112] [--top-k 40] [--temperature 0.8]
//        [--model-dir DIR] [--torch-threads N] [--warmup-seconds 3] [--out bench/results]
// The JSON goes to bench/results/generate-<backend>-<timestamp>.json.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import '../src/index.js';
import { getBackend, setBackend } from '../src/backend/backend.js';
import { saveSafetensors } from '../src/io/state-dict.js';
import { generate } from '../src/models/generate.js';
import { buildTextReference } from '../src/models/text-reference.js';
import { asGPT } from '../src/models/text-load.js';
import type { GPT } from '../src/models/text.js';
import { Generator, manualSeed } from '../src/random.js';
import { loadForCli } from '../src/cli/eval.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PEER = join(ROOT, 'bench/peers/torch_generate.py');

const argv = process.argv.slice(2);
const get = (flag: string): string | undefined => {
  const i = argv.indexOf(flag);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : undefined;
};
const o = {
  backend: get('--backend'),
  pairs: Number(get('--pairs') ?? 7),
  modes: (get('--modes') ?? 'greedy,topk').split(',') as Mode[],
  vocab: Number(get('--vocab') ?? 256),
  promptTokens: Number(get('--prompt-tokens') ?? 16),
  newTokens: Number(get('--new-tokens') ?? 112),
  topK: Number(get('--top-k') ?? 40),
  temperature: Number(get('--temperature') ?? 0.8),
  modelDir: get('--model-dir'),
  torchThreads: get('--torch-threads') ? Number(get('--torch-threads')) : undefined,
  warmupSeconds: Number(get('--warmup-seconds') ?? 3),
  out: resolve(get('--out') ?? join(ROOT, 'bench/results')),
};
type Mode = 'greedy' | 'topk';
for (const m of o.modes) if (m !== 'greedy' && m !== 'topk') throw new Error(`--modes: unknown mode ${m}; expected greedy and/or topk`);
if (o.backend) setBackend(o.backend);

interface Run {
  ids: number[];
  seconds: number;
  cpuSeconds: number;
}

/** The peer as a line-per-request child process. */
class Peer {
  private readonly p: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  constructor() {
    this.p = spawn('/usr/bin/python3', [PEER], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    this.p.stderr.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4000); });
    this.p.on('exit', (code) => { if (code) process.stderr.write(`torch peer exited with ${code}: ${err}\n`); });
    this.lines = createInterface({ input: this.p.stdout })[Symbol.asyncIterator]();
  }
  async send<T>(msg: unknown): Promise<T> {
    this.p.stdin.write(JSON.stringify(msg) + '\n');
    const r = await this.lines.next();
    if (r.done) throw new Error('torch peer closed its output (see its error above)');
    return JSON.parse(r.value) as T;
  }
  close(): void {
    this.p.stdin.end();
  }
}

function nablaRun(model: GPT, prompt: number[], mode: Mode, seed: number): Run {
  const c0 = process.cpuUsage(), t0 = performance.now();
  const ids = generate(model, prompt, { maxTokens: o.newTokens, temperature: mode === 'greedy' ? 0 : o.temperature, topK: mode === 'greedy' ? undefined : o.topK, seed });
  const seconds = (performance.now() - t0) / 1000, c = process.cpuUsage(c0);
  return { ids, seconds, cpuSeconds: (c.user + c.system) / 1e6 };
}

const torchRun = (peer: Peer, prompt: number[], mode: Mode, seed: number): Promise<Run> =>
  peer.send<Run>({ prompt, newTokens: o.newTokens, temperature: mode === 'greedy' ? 0 : o.temperature, topK: mode === 'greedy' ? null : o.topK, seed });

const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
const median = (a: number[]) => {
  const s = sorted(a), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const leadingAgreement = (a: number[], b: number[]) => {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
};

async function main(): Promise<void> {
  let model: GPT;
  if (o.modelDir) {
    const m = asGPT(loadForCli(o.modelDir));
    if (!m) throw new Error(`--model-dir ${o.modelDir} is not a gpt model`);
    model = m;
  } else {
    manualSeed(0);
    model = buildTextReference('gpt', { vocabSize: o.vocab, numClasses: 1, maxLength: 128, padId: 0 }) as unknown as GPT;
  }
  model.eval();
  if (o.promptTokens + o.newTokens > model.contextLength) {
    throw new Error(`--prompt-tokens + --new-tokens = ${o.promptTokens + o.newTokens} exceeds the context of ${model.contextLength}: both sides would have to re-prime differently`);
  }
  const g = new Generator(1);
  const prompt = Array.from({ length: o.promptTokens }, () => Math.floor(g.random() * model.vocabSize));
  const dir = mkdtempSync(join(tmpdir(), 'nabla-bench-generate-'));
  const peer = new Peer();
  try {
    const weights = join(dir, 'gpt.safetensors');
    saveSafetensors(model, weights);
    const setup = await peer.send<{ torch: string; threads: number }>({
      weights, vocabSize: model.vocabSize, contextLength: model.contextLength, nLayer: model.nLayer, nHead: model.nHead, dModel: model.dModel, threads: o.torchThreads,
    });
    const backend = getBackend().name;
    console.log(`bench/generate: Nabla ${backend} vs PyTorch ${setup.torch} (${setup.threads} thread(s)); gpt vocab ${model.vocabSize}, ${model.nLayer} layers, d ${model.dModel}, ctx ${model.contextLength}; prompt ${o.promptTokens} + ${o.newTokens} new tokens; ${o.pairs} pairs per mode`);
    console.log(`${cpus()[0]?.model}, ${availableParallelism()} cores; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const rows = [];
    for (const mode of o.modes) {
      // Warm-up: untimed runs on each side (JIT tiers, first-touch allocations, torch's lazy init),
      // at least 3 and, before the first mode, for --warmup-seconds (V8's optimising tiers take a
      // few hundred tokens to settle: with 3 runs alone the first mode timed ~30% slower).
      const w0 = performance.now();
      for (let w = 0; w < 3 || (mode === o.modes[0] && performance.now() - w0 < o.warmupSeconds * 1000); w++) {
        nablaRun(model, prompt, mode, w);
        await torchRun(peer, prompt, mode, w);
      }
      const pairs: { nabla: Run; torch: Run; ratio: number; cpuRatio: number; load1: number; nablaFirst: boolean }[] = [];
      for (let p = 0; p < o.pairs; p++) {
        const nablaFirst = p % 2 === 0;
        let nabla: Run, torch: Run;
        if (nablaFirst) {
          nabla = nablaRun(model, prompt, mode, p);
          torch = await torchRun(peer, prompt, mode, p);
        } else {
          torch = await torchRun(peer, prompt, mode, p);
          nabla = nablaRun(model, prompt, mode, p);
        }
        const ratio = (nabla.ids.length / nabla.seconds) / (torch.ids.length / torch.seconds);
        const cpuRatio = (torch.cpuSeconds / torch.ids.length) / (nabla.cpuSeconds / nabla.ids.length);
        pairs.push({ nabla, torch, ratio, cpuRatio, load1: loadavg()[0]!, nablaFirst });
      }
      const tps = (r: Run) => r.ids.length / r.seconds;
      const ratios = pairs.map((x) => x.ratio);
      const row = {
        mode, backend, newTokens: o.newTokens, promptTokens: o.promptTokens,
        tokensPerSecond: { nabla: median(pairs.map((x) => tps(x.nabla))), torch: median(pairs.map((x) => tps(x.torch))) },
        cpuMsPerToken: { nabla: median(pairs.map((x) => (x.nabla.cpuSeconds / x.nabla.ids.length) * 1e3)), torch: median(pairs.map((x) => (x.torch.cpuSeconds / x.torch.ids.length) * 1e3)) },
        ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
        // PyTorch's CPU time per token over Nabla's (> 1 = Nabla cheaper): steadier than wall time
        // when other jobs take the cores, as it leaves out the time spent waiting for one.
        cpuRatio: { median: median(pairs.map((x) => x.cpuRatio)), min: Math.min(...pairs.map((x) => x.cpuRatio)), max: Math.max(...pairs.map((x) => x.cpuRatio)) },
        load1: { median: median(pairs.map((x) => x.load1)), min: Math.min(...pairs.map((x) => x.load1)), max: Math.max(...pairs.map((x) => x.load1)) },
        // Greedy: how many leading ids the two sides agree on (of newTokens); sampling draws from
        // different generators, so only its speed is compared.
        greedyAgreement: mode === 'greedy' ? leadingAgreement(pairs[0]!.nabla.ids, pairs[0]!.torch.ids) : null,
        pairs: pairs.map((x) => ({ nablaTokensPerSecond: tps(x.nabla), torchTokensPerSecond: tps(x.torch), nablaCpuSeconds: x.nabla.cpuSeconds, torchCpuSeconds: x.torch.cpuSeconds, ratio: x.ratio, cpuRatio: x.cpuRatio, load1: x.load1, nablaFirst: x.nablaFirst })),
      };
      rows.push(row);
      console.log(`  ${mode}: Nabla ${row.tokensPerSecond.nabla.toFixed(1)} tokens/s, PyTorch ${row.tokensPerSecond.torch.toFixed(1)} tokens/s, ratio median ${row.ratio.median.toFixed(3)} (min–max ${row.ratio.min.toFixed(3)}–${row.ratio.max.toFixed(3)}); CPU ms/token ${row.cpuMsPerToken.nabla.toFixed(2)} vs ${row.cpuMsPerToken.torch.toFixed(2)} (CPU ratio ${row.cpuRatio.median.toFixed(3)}); load ${row.load1.median.toFixed(2)}${row.greedyAgreement !== null ? `; greedy ids agree on ${row.greedyAgreement}/${o.newTokens}` : ''}`);
    }
    console.log('\n| mode | backend | Nabla tokens/s | PyTorch tokens/s | ratio (median of pairs) | min–max | CPU ms/token Nabla / PyTorch | CPU ratio (median, min–max) | load (1 min) |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      console.log(`| ${r.mode} | ${r.backend} | ${r.tokensPerSecond.nabla.toFixed(1)} | ${r.tokensPerSecond.torch.toFixed(1)} | **${r.ratio.median.toFixed(3)}×** | ${r.ratio.min.toFixed(3)}–${r.ratio.max.toFixed(3)} | ${r.cpuMsPerToken.nabla.toFixed(2)} / ${r.cpuMsPerToken.torch.toFixed(2)} | ${r.cpuRatio.median.toFixed(3)}× (${r.cpuRatio.min.toFixed(3)}–${r.cpuRatio.max.toFixed(3)}) | ${r.load1.median.toFixed(2)} (${r.load1.min.toFixed(2)}–${r.load1.max.toFixed(2)}) |`);
    }
    mkdirSync(o.out, { recursive: true });
    const path = join(o.out, `generate-${backend}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(path, JSON.stringify({
      command: `node dist/bench/generate.js ${argv.join(' ')}`.trim(), cpu: cpus()[0]?.model, cores: availableParallelism(),
      model: { source: o.modelDir ?? 'seeded init (manualSeed 0)', vocabSize: model.vocabSize, nLayer: model.nLayer, nHead: model.nHead, dModel: model.dModel, contextLength: model.contextLength },
      torch: setup, settings: { ...o, out: undefined }, rows,
    }, null, 2));
    console.log(`\nwrote ${path}`);
  } finally {
    peer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
