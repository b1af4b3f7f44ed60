"""PyTorch (CPU) side of `npm run bench`: the same workloads as bench/nabla_bench.ts and
bench/peers/tfjs_bench.mjs, measured the same way, printed as one JSON line on stdout.

Workloads (one per call; bench/run.ts calls this once per workload and repetition round):
  sgemm  --sizes 256,512 --reps 3            GFLOPS of torch.mm on n×n float32, median of reps
  epoch  --model mlp|cnn [--fraction F|auto] [--cap-seconds S] [--max-fraction F]
                                             seconds of one training epoch on Fashion-MNIST 60k
  infer  --batches 1,256 [--rounds 7]         mlp forward latency / throughput in eval mode
Run: /usr/bin/python3 bench/peers/torch_bench.py sgemm --sizes 2048
"""
import argparse, json, os, sys, time

import numpy as np
import torch
import torch.nn.functional as F

from torch_common import cnn, load_split, mlp

DATA = '/usr/share/datasets/fashion-mnist'
# Fractions of an epoch tried, largest first, when a full epoch would exceed the cap.
LADDER = [1, 1 / 2, 1 / 4, 1 / 10, 1 / 20, 1 / 50, 1 / 100, 1 / 200, 1 / 500, 1 / 1000]
# Untimed steps before the timed run: up to this many, or until the seconds run out (at least one).
WARMUP_STEPS, WARMUP_SECONDS = 5, 20
PROBE_STEPS, PROBE_SECONDS = 20, 30
# Untimed sgemm products per size (harness.ts SGEMM_WARMUP): thread pool start, first-touch page faults.
SGEMM_WARMUP_PRODUCTS, SGEMM_WARMUP_SECONDS = 200, 0.5
# Timed products per size (harness.ts SGEMM_REPS): at least --reps, more while under the seconds.
SGEMM_REPS_MOST, SGEMM_REPS_SECONDS = 15, 2.0

MODELS = {'mlp': (mlp, 64), 'cnn': (cnn, 32)}


def sgemm(a):
    out = {}
    for n in a.sizes:
        x, y = torch.randn(n, n), torch.randn(n, n)
        t, k = time.perf_counter(), 0
        while k < SGEMM_WARMUP_PRODUCTS and (k == 0 or time.perf_counter() - t < SGEMM_WARMUP_SECONDS):
            torch.mm(x, y)
            k += 1
        ts = []
        while len(ts) < a.reps or (len(ts) < SGEMM_REPS_MOST and sum(ts) < SGEMM_REPS_SECONDS):
            t = time.perf_counter()
            torch.mm(x, y)
            ts.append(time.perf_counter() - t)
        out[str(n)] = {'gflops': 2 * n ** 3 / float(np.median(ts)) / 1e9, 'seconds': ts}
    return {'sizes': out}


def pick_fraction(per_step, steps, cap, max_fraction):
    """Largest fraction on the ladder, at most max_fraction, whose extrapolated time fits under the cap."""
    for f in LADDER:
        if f <= max_fraction and per_step * steps * f <= cap:
            return f
    return LADDER[-1]


def epoch(a):
    build, batch = MODELS[a.model]
    xtr, ytr = load_split('train', a.data)
    torch.manual_seed(a.seed)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = len(xtr)
    steps = (n + batch - 1) // batch
    model.train()

    def step(idx):
        opt.zero_grad()
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
        return loss.item()

    # Untimed warm-up (allocator, thread pool), then a short probe that sizes the timed run; both
    # stop early on a slow system (at least one step each).
    perm = torch.randperm(n)
    s, t = 0, time.perf_counter()
    while s < WARMUP_STEPS and (s == 0 or time.perf_counter() - t < WARMUP_SECONDS):
        step(perm[s * batch:(s + 1) * batch])
        s += 1
    probe = None
    fraction = a.fraction
    if fraction == 'auto':
        k, t = 0, time.perf_counter()
        while k < PROBE_STEPS and (k == 0 or time.perf_counter() - t < PROBE_SECONDS):
            step(perm[(s + k) * batch:(s + k + 1) * batch])
            k += 1
        probe = (time.perf_counter() - t) / k * steps
        fraction = pick_fraction(probe / steps, steps, a.cap_seconds, a.max_fraction)
    fraction = float(fraction)
    timed = steps if fraction >= 1 else max(1, round(steps * fraction))

    perm = torch.randperm(n)
    loss_sum = 0.0
    t, c = time.perf_counter(), time.process_time()
    for s in range(timed):
        loss_sum += step(perm[s * batch:(s + 1) * batch])
    measured, cpu = time.perf_counter() - t, time.process_time() - c

    acc = None
    if a.eval and timed == steps:
        xte, yte = load_split('t10k', a.data)
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(xte[i:i + 1000]).argmax(1) for i in range(0, len(xte), 1000)])
        acc = (pred == yte).float().mean().item()
    return {'model': a.model, 'batchSize': batch, 'steps': steps, 'timedSteps': timed,
            'fraction': fraction, 'measuredSeconds': measured, 'seconds': measured * steps / timed,
            'cpuSeconds': cpu * steps / timed,
            'probeEstimateSeconds': probe, 'meanLoss': loss_sum / timed, 'testAccuracy': acc}


def infer(a):
    xte, _ = load_split('t10k', a.data)
    torch.manual_seed(a.seed)
    model = mlp().eval()
    out = {}
    with torch.no_grad():
        for b in a.batches:
            x = xte[:b].contiguous()
            for _ in range(20):
                model(x)
            # Calls per round: enough for ~round_seconds, so timer resolution does not matter.
            calls, t = 1, time.perf_counter()
            model(x)
            one = max(time.perf_counter() - t, 1e-7)
            calls = max(1, int(a.round_seconds / one))
            per_call = []
            for _ in range(a.rounds):
                t = time.perf_counter()
                for _ in range(calls):
                    model(x)
                per_call.append((time.perf_counter() - t) / calls)
            lat = float(np.median(per_call))
            out[str(b)] = {'latencyMs': lat * 1e3, 'samplesPerSec': b / lat, 'callsPerRound': calls,
                           'rounds': a.rounds, 'perCallMs': [p * 1e3 for p in per_call]}
    return {'batches': out}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('workload', choices=['sgemm', 'epoch', 'infer'])
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--sizes', default='256,512,1024,2048')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--model', choices=list(MODELS), default='mlp')
    ap.add_argument('--fraction', default='auto', help="'auto' (full epoch unless over --cap-seconds) or a number in (0, 1]")
    ap.add_argument('--cap-seconds', type=float, default=1200)
    ap.add_argument('--max-fraction', type=float, default=1.0, help='with --fraction auto: time at most this fraction of the epoch')
    ap.add_argument('--eval', action='store_true', help='test accuracy after a full timed epoch (untimed)')
    ap.add_argument('--batches', default='1,256')
    ap.add_argument('--rounds', type=int, default=7)
    ap.add_argument('--round-seconds', type=float, default=0.3)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--data', default=DATA)
    a = ap.parse_args()
    a.sizes = [int(s) for s in a.sizes.split(',')]
    a.batches = [int(s) for s in a.batches.split(',')]
    torch.set_num_threads(a.threads)
    info = {'system': 'pytorch', 'version': torch.__version__, 'threads': torch.get_num_threads(),
            'workload': a.workload, 'loadavg': list(os.getloadavg())}
    try:
        res = {'sgemm': sgemm, 'epoch': epoch, 'infer': infer}[a.workload](a)
        print(json.dumps({**info, **res}), flush=True)
    except Exception as e:  # reported, not hidden: the table shows it as "cannot run"
        print(json.dumps({**info, 'error': f'{type(e).__name__}: {e}'}), flush=True)
        sys.exit(1)


if __name__ == '__main__':
    main()
