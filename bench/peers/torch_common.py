"""What the PyTorch scripts share (bench/peers/torch_bench.py, bench/torch_reference.py): the IDX
reader, a Fashion-MNIST split as Nabla prepares it, and SPEC §1's reference models."""
import gzip, os, struct

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    with (gzip.open if path.endswith('.gz') else open)(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(stem, data_dir):
    """Images and labels of `stem` ('train' or 't10k') from data_dir, raw or gzipped."""
    def find(name):
        for p in (os.path.join(data_dir, name), os.path.join(data_dir, name + '.gz')):
            if os.path.exists(p):
                return p
        raise FileNotFoundError(os.path.join(data_dir, name))
    x = read_idx(find(f'{stem}-images-idx3-ubyte')).astype(np.float32) / 255.0
    y = read_idx(find(f'{stem}-labels-idx1-ubyte')).astype(np.int64)
    # SPEC §1: pixels scaled to [0, 1], then (x − 0.5) / 0.5; NCHW like Nabla.
    return torch.from_numpy((x - 0.5) / 0.5).unsqueeze(1), torch.from_numpy(y)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
