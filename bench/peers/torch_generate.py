#!/usr/bin/env python3
"""PyTorch 1.13 peer of `nabla generate` for bench/generate.ts: a long-running process (one
interpreter start and one model load for the whole bench, so each timed run is generation only).

It loads Nabla's GPT weights from a safetensors file into torch_text.py's GPT (the same network
bench/text.ts trains), then answers one JSON line per request line on stdin:
  first line  {"weights": PATH, "vocabSize": V, "contextLength": C, "nLayer": L, "nHead": H, "dModel": D, "threads": N?}
              → {"ready": true, "torch": ..., "threads": ...}
  each run    {"prompt": [ids], "newTokens": N, "temperature": T, "topK": K|null, "seed": S}
              → {"ids": [...], "seconds": wall, "cpuSeconds": process CPU}
The loop is the eager one a PyTorch user writes: the prompt through model(ids) once, then one
token per model(next, caches) call under no_grad; temperature 0 is argmax, else top-k filtering,
softmax and torch.multinomial (nanoGPT's sample loop).
"""
import json
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_text import GPT  # noqa: E402  (the same network bench/text.ts trains)


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


def torch_name(name):
    """Nabla's GPT state-dict name → torch_text.GPT's (its Block keeps in_proj/out_proj as Linears)."""
    return (name.replace('.attn.in_proj_weight', '.in_proj.weight')
                .replace('.attn.in_proj_bias', '.in_proj.bias')
                .replace('.attn.out_proj.', '.out_proj.'))


def load(spec):
    model = GPT(spec['vocabSize'], spec['contextLength'], d=spec['dModel'], heads=spec['nHead'], layers=spec['nLayer'])
    sd = {torch_name(k): v for k, v in read_safetensors_f32(spec['weights']).items()}
    model.load_state_dict(sd, strict=True)  # every weight named and shaped alike, or it fails here
    return model.eval()


def sample(logits, temperature, top_k, g):
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        v, _ = torch.topk(logits, top_k)
        logits = logits.masked_fill(logits < v[:, [-1]], float('-inf'))
    return torch.multinomial(logits.softmax(-1), 1, generator=g)


@torch.no_grad()
def generate(model, req):
    g = torch.Generator().manual_seed(req.get('seed', 0))
    T, K = req['temperature'], req.get('topK')
    prompt = torch.tensor([req['prompt']], dtype=torch.long)
    ids = []
    w0, c0 = time.perf_counter(), time.process_time()
    o, caches = model(prompt)
    nxt = sample(o[:, -1], T, K, g)
    ids.append(nxt.item())
    for _ in range(req['newTokens'] - 1):
        o, caches = model(nxt, caches)
        nxt = sample(o[:, -1], T, K, g)
        ids.append(nxt.item())
    return {'ids': ids, 'seconds': time.perf_counter() - w0, 'cpuSeconds': time.process_time() - c0}


def main():
    spec = json.loads(sys.stdin.readline())
    if spec.get('threads'):
        torch.set_num_threads(spec['threads'])
    model = load(spec)
    print(json.dumps({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(generate(model, json.loads(line))), flush=True)


if __name__ == '__main__':
    main()
