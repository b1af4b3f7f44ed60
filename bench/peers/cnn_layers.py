"""PyTorch's side of bench/cnn-layers.ts: each conv block of the reference cnn timed alone, forward
and backward, batch 32, with the same shapes and the same fusion boundaries as Nabla's side
(conv → relu → max-pool 2 for the first two, conv → relu for the third), so the per-layer table
can put oneDNN's time next to Nabla's and the sgemm FLOP limit.

Prints one JSON object: {"torch": version, "threads": {"1": [...], "2": [...]}} where each list
holds, per layer, {"fwd": [min, median], "bwd": [min, median], "both": [min, median]} in seconds.
Run: /usr/bin/python3 bench/peers/cnn_layers.py [--reps 60]
"""
import json, sys, time

import torch
import torch.nn.functional as F

REPS = int(sys.argv[sys.argv.index('--reps') + 1]) if '--reps' in sys.argv else 60
N = 32
LAYERS = [(1, 32, 28, True, False), (32, 64, 13, True, True), (64, 64, 5, False, True)]


def q(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def layer_times(C, O, S, pool, input_grad):
    torch.manual_seed(0)
    x = torch.randn(N, C, S, S, requires_grad=input_grad)
    w = (torch.randn(O, C, 3, 3) * 0.1).requires_grad_()
    b = torch.randn(O).requires_grad_()

    def fwd():
        y = F.relu(F.conv2d(x, w, b))
        return F.max_pool2d(y, 2) if pool else y

    g = torch.randn(fwd().shape)
    fs, bs = [], []
    for i in range(REPS + 10):
        x.grad = None; w.grad = None; b.grad = None
        t = time.perf_counter()
        y = fwd()
        tf = time.perf_counter() - t
        t = time.perf_counter()
        y.backward(g)
        tb = time.perf_counter() - t
        if i >= 10:
            fs.append(tf); bs.append(tb)
    both = [f + bb for f, bb in zip(fs, bs)]
    return {'fwd': [q(fs, 0), q(fs, 0.5)], 'bwd': [q(bs, 0), q(bs, 0.5)], 'both': [q(both, 0), q(both, 0.5)]}


out = {'torch': torch.__version__, 'threads': {}}
for n in (1, 2):
    torch.set_num_threads(n)
    out['threads'][str(n)] = [layer_times(*l) for l in LAYERS]
print(json.dumps(out))
