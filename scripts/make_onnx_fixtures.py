#!/usr/bin/python3
"""Writes the PyTorch-exported ONNX fixtures of test/io/onnx-torch.test.ts into test/fixtures/onnx/.

Run with Debian's torch: `/usr/bin/python3 scripts/make_onnx_fixtures.py`. Each model is seeded,
put in eval mode and exported by torch.onnx.export (opset 17, dynamic batch); <name>.json holds a
seeded input batch and PyTorch's output for it: {"input": {"shape", "data"}, "output": {...},
"opset", "torch"}. Values are float32 printed as the shortest decimal that reads back exactly.

mlp        Linear, ReLU, Dropout, Linear, Softmax on [N, 12]          (Gemm, Relu, Softmax)
cnn        Conv+BatchNorm2d+ReLU, MaxPool, Conv(stride 2, pad 1), LeakyReLU, AvgPool(pad 1),
           Flatten, Linear, LogSoftmax on [N, 1, 12, 12]   (Conv with the BatchNorm folded in by
           the exporter, Relu, MaxPool, LeakyRelu, Pad + AveragePool, Flatten, Gemm, LogSoftmax)
bn1d       Linear, BatchNorm1d, Tanh, Linear, Sigmoid on [N, 6]
seq3d      Linear on [N, 4, 6] (MatMul + Add), view(-1, 12), Linear   (MatMul, Add, Reshape, Gemm)
layernorm  Linear on [N, 4, 6] (MatMul + Add), LayerNorm(8), ReLU, Flatten, Linear
           (LayerNormalization, axis -1; `scripts/make_onnx_fixtures.py layernorm` writes only it)
gelu       Linear, GELU, Linear on [N, 6] (exact GELU: Div, Erf, Add, Mul, Mul at opset 17)
gelu_tanh  the same with GELU(approximate='tanh') (Mul, Mul, Mul, Add, Mul, Tanh, Add, Mul, Mul)
silu_softplus Linear, SiLU, Linear, Softplus, Linear, Softplus(beta=2) on [N, 6]
           (Sigmoid + Mul; Softplus; Mul + Softplus + Div)
dynreshape x.reshape(x.shape[0], -1) with a dynamic batch: Shape/Gather/Concat ops that Nabla
           does not import (the unsupported-op test)

Recurrent layers (test/io/onnx-rnn-import.test.ts, read by importRnnOnnx), exported with input
[T, B, F] (or [B, T, F]), outputs output, h_n (and c_n), dynamic sequence and batch; the JSON holds
"input", "output", "h_n" (and "c_n"). `scripts/make_onnx_fixtures.py rnn` writes only these.
lstm2      nn.LSTM(5, 6, num_layers=2) on [T=4, B=3, 5]
gru_bf     nn.GRU(5, 6, batch_first=True) on [B=3, T=4, 5]
rnn_relu2  nn.RNN(5, 6, num_layers=2, nonlinearity='relu', batch_first=True) on [B=3, T=4, 5]
"""
import json
import os
import sys

import torch
from torch import nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'onnx')
OPSET = 17


class Seq3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 3)
        self.b = nn.Linear(12, 2)

    def forward(self, x):
        return self.b(self.a(x).view(-1, 12))


class DynReshape(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 2)

    def forward(self, x):
        return self.fc(x.reshape(x.shape[0], -1))


def models():
    yield 'mlp', nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 4), nn.Softmax(dim=1)), [12]
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.LeakyReLU(0.1), nn.AvgPool2d(2, stride=1, padding=1),
        nn.Flatten(), nn.Linear(6 * 4 * 4, 5), nn.LogSoftmax(dim=1))
    yield 'cnn', cnn, [1, 12, 12]
    yield 'bn1d', nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 1), nn.Sigmoid()), [6]
    yield 'seq3d', Seq3d(), [4, 6]
    yield 'dynreshape', DynReshape(), [3, 4]
    # appended last so that its seed (100 + index) leaves the fixtures above unchanged
    yield 'layernorm', nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3)), [4, 6]
    # GELU below opset 20 (an Erf or Tanh subgraph), SiLU (Sigmoid + Mul), Softplus(beta=2) (Mul, Softplus, Div)
    yield 'gelu', nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 3)), [6]
    yield 'gelu_tanh', nn.Sequential(nn.Linear(6, 8), nn.GELU(approximate='tanh'), nn.Linear(8, 3)), [6]
    yield 'silu_softplus', nn.Sequential(nn.Linear(6, 8), nn.SiLU(), nn.Linear(8, 5), nn.Softplus(), nn.Linear(5, 3), nn.Softplus(beta=2.0)), [6]


def randomize_bn(m):
    # Non-trivial running statistics, as after training.
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)


def flat(t):
    return {'shape': list(t.shape), 'data': t.flatten().tolist()}


def recurrent():
    torch.manual_seed(300)
    yield 'lstm2', nn.LSTM(5, 6, num_layers=2)
    yield 'gru_bf', nn.GRU(5, 6, batch_first=True)
    yield 'rnn_relu2', nn.RNN(5, 6, num_layers=2, nonlinearity='relu', batch_first=True)


def main_rnn() -> None:
    for i, (name, model) in enumerate(recurrent()):
        torch.manual_seed(200 + i)
        model.eval()
        x = torch.randn(3, 4, 5) if model.batch_first else torch.randn(4, 3, 5)
        with torch.no_grad():
            y, st = model(x)
        h, c = st if isinstance(st, tuple) else (st, None)
        names = ['output', 'h_n'] + (['c_n'] if c is not None else [])
        seq = {0: 'batch', 1: 'sequence'} if model.batch_first else {0: 'sequence', 1: 'batch'}
        axes = {'input': seq, 'output': seq, 'h_n': {1: 'batch'}}
        if c is not None:
            axes['c_n'] = {1: 'batch'}
        path = os.path.join(OUT, f'{name}.onnx')
        torch.onnx.export(model, (x,), path, opset_version=OPSET, input_names=['input'], output_names=names, dynamic_axes=axes)
        doc = {'torch': torch.__version__, 'opset': OPSET, 'input': flat(x), 'output': flat(y), 'h_n': flat(h)}
        if c is not None:
            doc['c_n'] = flat(c)
        with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
            json.dump(doc, f, separators=(',', ':'))
            f.write('\n')
        print(f'{name}: {os.path.getsize(path)} bytes')


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != 'rnn' else None
    if only is None:
        main_rnn()
    if sys.argv[1:] == ['rnn']:
        return 0
    for i, (name, model, shape) in enumerate(models()):
        if only is not None and name != only:
            continue
        torch.manual_seed(100 + i)
        for p in model.parameters():
            p.data.uniform_(-0.5, 0.5)
        randomize_bn(model)
        model.eval()
        x = torch.randn(3, *shape)
        with torch.no_grad():
            y = model(x)
        path = os.path.join(OUT, f'{name}.onnx')
        torch.onnx.export(model, (x,), path, opset_version=OPSET, input_names=['input'], output_names=['output'],
                          dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}})
        doc = {'torch': torch.__version__, 'opset': OPSET,
               'input': {'shape': list(x.shape), 'data': x.flatten().tolist()},
               'output': {'shape': list(y.shape), 'data': y.flatten().tolist()}}
        with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
            json.dump(doc, f, separators=(',', ':'))
            f.write('\n')
        print(f'{name}: {os.path.getsize(path)} bytes')
    return 0


if __name__ == '__main__':
    sys.exit(main())
