"""PyTorch 1.13's attention for bench/attention.ts: 1.13 has no F.scaled_dot_product_attention, so
the peer is the composite softmax(q·kᵀ/√E)·v, forward alone (no_grad) and forward + backward, at
the same shapes (batch 2, 4 heads, head dim 32) and float32. Prints one JSON line: the median ms
per call for each sequence length, and the peak RSS growth of one call in a fresh process
(--memory; a thread samples the resident size while it runs).
  /usr/bin/python3 bench/peers/attention.py --seqs 64,256,1024 --reps 3 --threads 2
  /usr/bin/python3 bench/peers/attention.py --memory 1024 --mode fwdbwd --threads 2"""
import argparse
import json
import math
import resource
import statistics
import threading
import time

import torch

B, H, E = 2, 4, 32


def inputs(S, grad):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(B, H, S, E, generator=g).requires_grad_(grad) for _ in range(3)]


def attention(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(E), dim=-1) @ v


def run(S, mode, q, k, v):
    if mode == 'fwd':
        with torch.no_grad():
            attention(q, k, v)
    else:
        attention(q, k, v).sum().backward()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seqs', default='64,256,1024')
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--memory', type=int, default=0, help='sequence length: measure one call\'s peak RSS growth')
    ap.add_argument('--mode', default='fwdbwd')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.memory:
        run(64, a.mode, *inputs(64, a.mode != 'fwd'))  # load the kernels first
        q, k, v = inputs(a.memory, a.mode != 'fwd')
        # A thread samples the resident size while the call runs (torch's ops release the GIL).
        pages = lambda: int(open('/proc/self/statm').read().split()[1])
        before, peak, stop = pages(), [0], threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], pages())
                time.sleep(0.0002)
        t = threading.Thread(target=sample)
        t.start()
        run(a.memory, a.mode, q, k, v)
        stop.set()
        t.join()
        print(json.dumps({'seq': a.memory, 'mode': a.mode, 'peakGrowthMB': max(0, peak[0] - before) * resource.getpagesize() / 2 ** 20}))
        return
    out = {}
    for S in [int(s) for s in a.seqs.split(',')]:
        for mode in ('fwd', 'fwdbwd'):
            q, k, v = inputs(S, mode != 'fwd')
            run(S, mode, q, k, v)  # warm-up
            ts = []
            for _ in range(a.reps):
                if q.grad is not None:
                    q.grad = k.grad = v.grad = None
                t = time.perf_counter()
                run(S, mode, q, k, v)
                ts.append((time.perf_counter() - t) * 1000)
            out[f'{S}/{mode}'] = statistics.median(ts)
    print(json.dumps({'torch': torch.__version__, 'threads': a.threads, 'ms': out}))


if __name__ == '__main__':
    main()
