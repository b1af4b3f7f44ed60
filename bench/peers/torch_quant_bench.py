#!/usr/bin/python3
"""PyTorch's side of bench/compress.ts: the same trained float model (weights read from Nabla's
model.safetensors), quantised by torch.ao.quantization eager mode (static; the fbgemm engine, or
onednn / qnnpack where this torch lacks it; the engine's default qconfig: histogram/min-max
observers, per-channel weights on fbgemm/onednn; Conv+ReLU and Linear+ReLU fused), calibrated on the same
samples; prints one JSON line: accuracy and median latency (batch 1 and 256) for float32 and int8.

Usage: /usr/bin/python3 bench/peers/torch_quant_bench.py JOB.json
JOB = {"model": "mlp"|"cnn", "weights": ".../model.safetensors", "calib": ".bin", "calib_shape": [...],
       "test_x": ".bin", "test_shape": [...], "test_y": ".bin" (int32), "reps": N, "threads": N}
"""
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import cnn, mlp  # noqa: E402


def read_safetensors_f32(path):
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        if v['dtype'] != 'F32':
            raise SystemExit(f'{k}: {v["dtype"]}; this peer reads float32 models only')
        b, e = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(data[base + b:base + e], dtype='<f4').reshape(v['shape']).copy())
    return out


class Quantizable(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.body = body
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.body(self.quant(x)))


def fuse_pairs(body):
    mods = list(body)
    pairs = [[str(i), str(i + 1)] for i in range(len(mods) - 1)
             if isinstance(mods[i], (nn.Conv2d, nn.Linear)) and isinstance(mods[i + 1], nn.ReLU)]
    return torch.ao.quantization.fuse_modules(body, pairs) if pairs else body


def latency(model, shape, batch, reps):
    x = torch.rand(batch, *shape)
    times = []
    with torch.no_grad():
        for i in range(reps + 2):
            t = time.perf_counter()
            model(x)
            if i >= 2:
                times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main():
    job = json.load(open(sys.argv[1]))
    torch.set_num_threads(job.get('threads', 1))
    # fbgemm where this torch has it; Debian's build has onednn (x86, per-channel too) and qnnpack
    engine = next(e for e in ('fbgemm', 'onednn', 'qnnpack') if e in torch.backends.quantized.supported_engines)
    torch.backends.quantized.engine = engine
    body = mlp() if job['model'] == 'mlp' else cnn()
    body.load_state_dict(read_safetensors_f32(job['weights']))
    body.eval()
    x = torch.from_numpy(np.fromfile(job['test_x'], dtype='<f4').reshape(job['test_shape']))
    y = torch.from_numpy(np.fromfile(job['test_y'], dtype='<i4').astype(np.int64))
    calib = torch.from_numpy(np.fromfile(job['calib'], dtype='<f4').reshape(job['calib_shape']))
    shape = job['test_shape'][1:]
    reps = job.get('reps', 10)
    res = {'torch': torch.__version__, 'engine': engine, 'threads': torch.get_num_threads(), 'float': {}, 'int8': {}}
    res['float'] = {'accuracy': accuracy(body, x, y), 'batch1_ms': latency(body, shape, 1, reps * 10), 'batch256_ms': latency(body, shape, 256, reps)}
    q = Quantizable(fuse_pairs(body))
    q.eval()
    q.qconfig = torch.ao.quantization.get_default_qconfig(engine)
    torch.ao.quantization.prepare(q, inplace=True)
    with torch.no_grad():
        q(calib)
    torch.ao.quantization.convert(q, inplace=True)
    res['int8'] = {'accuracy': accuracy(q, x, y), 'batch1_ms': latency(q, shape, 1, reps * 10), 'batch256_ms': latency(q, shape, 256, reps)}
    print(json.dumps(res))


if __name__ == '__main__':
    main()
