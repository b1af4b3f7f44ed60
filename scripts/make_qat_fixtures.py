#!/usr/bin/env python3
"""Fixtures for fake quantisation (quantisation-aware training): torch.fake_quantize_per_tensor_affine
and torch.fake_quantize_per_channel_affine forward values and straight-through gradients, float32.
Run with Debian's PyTorch: /usr/bin/python3 scripts/make_qat_fixtures.py (writes
test/fixtures/torch/fake_quant.json)."""
import json
import os

import torch

torch.manual_seed(0)
cases = []


def enc(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def per_tensor(name, x, scale, zp, qmin, qmax):
    x = x.clone().requires_grad_(True)
    y = torch.fake_quantize_per_tensor_affine(x, scale, zp, qmin, qmax)
    w = torch.randn(y.shape)
    (y * w).sum().backward()
    cases.append({"name": name, "kind": "tensor", "x": enc(x), "scale": scale, "zero_point": zp, "quant_min": qmin, "quant_max": qmax,
                  "w": enc(w), "y": enc(y), "grad": enc(x.grad)})


def per_channel(name, x, scale, zp, axis, qmin, qmax):
    x = x.clone().requires_grad_(True)
    y = torch.fake_quantize_per_channel_affine(x, scale, zp, axis, qmin, qmax)
    w = torch.randn(y.shape)
    (y * w).sum().backward()
    cases.append({"name": name, "kind": "channel", "x": enc(x), "scale": enc(scale), "zero_point": [int(v) for v in zp.tolist()], "axis": axis,
                  "quant_min": qmin, "quant_max": qmax, "w": enc(w), "y": enc(y), "grad": enc(x.grad)})


per_tensor("uint8 activations", torch.randn(6, 7) * 2, 0.02, 100, 0, 255)
per_tensor("int8, many clamped", torch.randn(5, 9) * 3, 0.01, 0, -128, 127)
per_tensor("ties", torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5]) * 0.1, 0.1, 3, 0, 255)
per_channel("int8 weights per row", torch.randn(4, 10), torch.tensor([0.01, 0.02, 0.005, 0.03]), torch.zeros(4, dtype=torch.int32), 0, -127, 127)
per_channel("conv weights per out channel", torch.randn(3, 2, 3, 3), torch.tensor([0.004, 0.01, 0.02]), torch.zeros(3, dtype=torch.int32), 0, -128, 127)
per_channel("uint8 per column", torch.randn(5, 3), torch.tensor([0.02, 0.01, 0.03]), torch.tensor([10, 128, 200], dtype=torch.int32), 1, 0, 255)

out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "torch", "fake_quant.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {len(cases)} cases to {out}")
