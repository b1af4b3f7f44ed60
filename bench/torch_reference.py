"""PyTorch side of the accuracy comparison (issue: data to trained model).

Trains SPEC §1's reference models on full Fashion-MNIST with PyTorch (Debian python3-torch, CPU)
and prints one JSON line per model: test accuracy after the last epoch and seconds per epoch.
Run: /usr/bin/python3 bench/torch_reference.py [--models mlp,cnn] [--data DIR] [--seed N]
"""
import argparse, json, os, sys, time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peers'))
from torch_common import cnn, load_split, mlp  # noqa: E402


def load(data_dir):
    xtr, ytr = load_split('train', data_dir)
    xte, yte = load_split('t10k', data_dir)
    return xtr, ytr, xte, yte


CONFIGS = {'mlp': (mlp, 64, 10), 'cnn': (cnn, 32, 5)}


def run(name, data, seed, epochs=None):
    build, batch, default_epochs = CONFIGS[name]
    epochs = epochs or default_epochs
    torch.manual_seed(seed)
    xtr, ytr, xte, yte = data
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(xte[i:i + 1000]).argmax(1) for i in range(0, len(xte), 1000)])
    acc = (pred == yte).float().mean().item()
    return {'peer': 'pytorch', 'torch': torch.__version__, 'model': name, 'epochs': epochs,
            'batchSize': batch, 'testAccuracy': acc, 'secondsPerEpoch': float(np.median(times)),
            'threads': torch.get_num_threads()}


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--models', default='mlp,cnn')
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--epochs', type=int, default=None, help='override the reference epoch count')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = load(a.data)
    for m in a.models.split(','):
        print(json.dumps(run(m, data, a.seed, a.epochs)), flush=True)
