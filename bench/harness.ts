// What the three bench harnesses share (bench/nabla_bench.ts, bench/peers/tfjs_bench.mjs, and by
// contract bench/peers/torch_bench.py): the command line bench/run.ts passes them, the fraction
// ladder, the warm-up and probe limits, and the statistics. tfjs_bench.mjs imports the compiled
// dist/bench/harness.js (npm run bench builds it first).

/** Fractions of an epoch tried, largest first, when a full epoch would exceed the cap (as in torch_bench.py). */
const LADDER = [1, 1 / 2, 1 / 4, 1 / 10, 1 / 20, 1 / 50, 1 / 100, 1 / 200, 1 / 500, 1 / 1000];
// Untimed steps before the timed run: up to this many, or until the seconds run out (at least one).
export const WARMUP = { steps: 5, seconds: 20 };
export const PROBE = { steps: 20, seconds: 30 };
// Untimed sgemm products per size: a fresh process's first products pay for first-touch page
// faults on their outputs (a 4 MiB output cost 26 ms against 12 ms once memory is reused, on a
// freshly booted VM), and a median over steady state is what the row means.
export const SGEMM_WARMUP = { products: 200, seconds: 0.5 };

// Timed sgemm products per size: at least --reps, and more (up to `most`) while the timed total
// stays under `seconds`, so a fast product's median is not three samples of a noisy VM.
export const SGEMM_REPS = { most: 15, seconds: 2 };

/** Run `f` at least once, then until `limit.products` runs or `limit.seconds` have passed. */
export function warmUp(f: () => void, limit = SGEMM_WARMUP): void {
  const t = now();
  for (let i = 0; i < limit.products && (i === 0 || now() - t < limit.seconds); i++) f();
}

/** Seconds per call of `f`: at least `reps` calls, then more as SGEMM_REPS allows. */
export function timeReps(f: () => void, reps: number, limit = SGEMM_REPS): number[] {
  const ts: number[] = [];
  let total = 0;
  while (ts.length < reps || (ts.length < limit.most && total < limit.seconds)) {
    const t = now();
    f();
    ts.push(now() - t);
    total += ts[ts.length - 1]!;
  }
  return ts;
}

export interface Args {
  workload: string;
  backend: string;
  sizes: number[];
  reps: number;
  model: string;
  fraction: 'auto' | number;
  capSeconds: number;
  maxFraction: number;
  eval: boolean;
  batches: number[];
  rounds: number;
  roundSeconds: number;
  seed: number;
}

export function parseArgs(argv: string[]): Args {
  const get = (flag: string, dflt: string): string => {
    const i = argv.indexOf(flag);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const list = (s: string): number[] => s.split(',').map(Number);
  const fraction = get('--fraction', 'auto');
  return {
    workload: argv[0] ?? '',
    backend: get('--backend', 'wasm'),
    sizes: list(get('--sizes', '256,512,1024,2048')),
    reps: Number(get('--reps', '3')),
    model: get('--model', 'mlp'),
    fraction: fraction === 'auto' ? 'auto' : Number(fraction),
    capSeconds: Number(get('--cap-seconds', '1200')),
    maxFraction: Number(get('--max-fraction', '1')),
    eval: argv.includes('--eval'),
    batches: list(get('--batches', '1,256')),
    rounds: Number(get('--rounds', '7')),
    roundSeconds: Number(get('--round-seconds', '0.3')),
    seed: Number(get('--seed', '0')),
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const now = (): number => performance.now() / 1000;

/** The largest fraction on the ladder, at most maxFraction, whose extrapolated time fits under the cap. */
export function pickFraction(perStep: number, steps: number, cap: number, maxFraction: number): number {
  for (const f of LADDER) if (f <= maxFraction && perStep * steps * f <= cap) return f;
  return LADDER[LADDER.length - 1];
}
