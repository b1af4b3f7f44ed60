"""PyTorch side of the accuracy comparison (issue: data to trained model).

Trains SPEC §1's reference models on full Fashion-MNIST with PyTorch (Debian python3-torch, CPU)
and prints one JSON line per model: test accuracy after the last epoch and seconds per epoch.
Run: /usr/bin/python3 bench/torch_reference.py [--models mlp,cnn] [--data DIR] [--seed N]
"""
import argparse, gzip, json, os, struct, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with (gzip.open if path.endswith('.gz') else open)(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir):
    def find(stem):
        for name in (stem, stem + '.gz'):
            p = os.path.join(data_dir, name)
            if os.path.exists(p):
                return p
        raise FileNotFoundError(os.path.join(data_dir, stem))
    xtr = read_idx(find('train-images-idx3-ubyte')).astype(np.float32) / 255.0
    ytr = read_idx(find('train-labels-idx1-ubyte')).astype(np.int64)
    xte = read_idx(find('t10k-images-idx3-ubyte')).astype(np.float32) / 255.0
    yte = read_idx(find('t10k-labels-idx1-ubyte')).astype(np.int64)
    norm = lambda x: torch.from_numpy((x - 0.5) / 0.5).unsqueeze(1)
    return norm(xtr), torch.from_numpy(ytr), norm(xte), torch.from_numpy(yte)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))


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
