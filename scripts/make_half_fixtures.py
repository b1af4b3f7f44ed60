#!/usr/bin/python3
"""Writes the float16/bfloat16 golden files of test/io/half.test.ts into test/fixtures/safetensors/.

Run with Debian's torch: `/usr/bin/python3 scripts/make_half_fixtures.py` (torch 1.13 has no
safetensors package here, so the layout is written by `write_safetensors` below: u64 LE header
length, compact JSON header padded with spaces to a multiple of 8, tensors in the reference
implementation's order: dtype descending (F64 > F32 > I32 > BF16 > F16), then name).

half-values.safetensors   "src" (F32): edge values (±0, subnormals of both formats, ties, the
                          float16 overflow boundary, ±Inf, NaN) and seeded normals at 5 scales;
                          "f16_bits"/"bf16_bits" (I32): PyTorch's .half()/.bfloat16() bit patterns
                          of src; "f16_f32"/"bf16_f32" (F32): those widened back by PyTorch.
half-f16.safetensors      "h" (F16) = src.half(), all 65536 float16 patterns as "all" (F16)
half-bf16.safetensors     "b" (BF16) = src.bfloat16(), and all 65536 bfloat16 patterns as "all"
half-all-f32.safetensors  "f16" and "bf16" (F32): PyTorch's widening of every pattern
half-model.safetensors    a tiny MLP's state dict after .half(), PyTorch names (F16)
half-model-io.safetensors "x" (F32) input and "y" (F32) = the half model's weights run in float32
"""
import json
import os
import struct
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'safetensors')
ST = {torch.float64: 'F64', torch.float32: 'F32', torch.int32: 'I32', torch.bfloat16: 'BF16', torch.float16: 'F16'}
RANK = {'F64': 0, 'F32': 1, 'I32': 2, 'BF16': 3, 'F16': 4}


def raw(t: torch.Tensor) -> bytes:
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)
    return t.numpy().tobytes()  # little-endian hosts only (x86/arm)


def write_safetensors(path: str, tensors: dict) -> None:
    items = sorted(tensors.items(), key=lambda kv: (RANK[ST[kv[1].dtype]], kv[0].encode()))
    header, blobs, off = {}, [], 0
    parts = []
    for name, t in items:
        b = raw(t)
        parts.append(json.dumps(name) + ':' + json.dumps(
            {'dtype': ST[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}, separators=(',', ':')))
        blobs.append(b)
        off += len(b)
    h = ('{' + ','.join(parts) + '}').encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
    print(f'{os.path.basename(path)}: {8 + len(h) + off} bytes')


def bits32(x: torch.Tensor) -> torch.Tensor:
    return x.view(torch.int32)


def main() -> int:
    torch.manual_seed(14)
    tiny16 = 2.0 ** -24  # smallest float16 subnormal
    edge = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 65504.0, -65504.0, 65519.0, 65520.0, 65536.0, 1e5, -1e5,
            float('inf'), float('-inf'), float('nan'),
            tiny16, -tiny16, tiny16 / 2, tiny16 * 0.5000001, tiny16 * 1.5, tiny16 * 2.5, tiny16 * 3.5,
            2.0 ** -14, 2.0 ** -14 * (1 - 2 ** -11), 6.1e-5, 1e-8, 1e-30, 1.17549435e-38, 1e-45,
            1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 2049.0, 2051.0, 257.0, 259.0,
            3.4028235e38, -3.4028235e38, 3.39e38, 1.5e-40, -2.5e-42]
    normals = torch.cat([torch.randn(64) * s for s in (1e-6, 1e-3, 1.0, 100.0, 3e4)])
    src = torch.cat([torch.tensor(edge, dtype=torch.float32), normals.float()])
    h, b = src.half(), src.bfloat16()
    write_safetensors(os.path.join(OUT, 'half-values.safetensors'), {
        'src': src,
        'f16_bits': h.view(torch.int16).to(torch.int32) & 0xFFFF,
        'bf16_bits': b.view(torch.int16).to(torch.int32) & 0xFFFF,
        'f16_f32': h.float(),
        'bf16_f32': b.float(),
    })
    pats = torch.arange(65536, dtype=torch.int32).to(torch.int16)  # wraps to the signed view
    all16, allb = pats.view(torch.float16), pats.view(torch.bfloat16)
    write_safetensors(os.path.join(OUT, 'half-f16.safetensors'), {'h': h.reshape(3, 121), 'all': all16})
    write_safetensors(os.path.join(OUT, 'half-bf16.safetensors'), {'b': b, 'all': allb.reshape(256, 256)})
    write_safetensors(os.path.join(OUT, 'half-all-f32.safetensors'), {'f16': all16.float(), 'bf16': allb.float().reshape(256, 256)})

    # A PyTorch user's `model.half()` state dict, loaded by a Nabla model of the same architecture.
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).half()
    write_safetensors(os.path.join(OUT, 'half-model.safetensors'), dict(model.state_dict()))
    x = torch.randn(4, 6)
    with torch.no_grad():
        y = model.float()(x)
    write_safetensors(os.path.join(OUT, 'half-model-io.safetensors'), {'x': x, 'y': y})
    print(f'torch {torch.__version__}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
