#!/usr/bin/env python3
"""PyTorch 1.13 peers of Nabla's text reference models (bench/text.ts runs this with /usr/bin/python3).

Reads the token ids bench/text.ts dumped (the same tokenizer, the same split, the same truncation),
builds the same network with PyTorch's own layers and default initialisation, trains it with the
same settings (AdamW, linear warm-up then cosine decay per step, batch size, epochs, dynamic
padding to each batch's longest text), and prints one JSON line: test accuracy / validation loss,
per-step times, and for gpt the tokens/s of a batch-1 eager generation loop with a KV cache.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def pad_mask(ids, pad):
    m = ids.eq(pad)
    m[:, 0] = False  # as Nabla: position 0 is never masked (an empty text would attend to nothing)
    return m


class TextTransformer(nn.Module):
    def __init__(self, V, C, max_len, pad, d=128, heads=4, layers=2, ff=512, dropout=0.1):
        super().__init__()
        self.pad = pad
        self.tok_embedding = nn.Embedding(V, d, padding_idx=pad)
        self.pos = nn.Parameter(torch.randn(max_len, d))  # Nabla's LearnedPositionalEmbedding: N(0, 1)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout, activation='gelu', batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, C)

    def forward(self, ids):
        pad = pad_mask(ids, self.pad)
        x = self.dropout(self.tok_embedding(ids) + self.pos[: ids.shape[1]])
        h = self.encoder(x, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(2).to(h.dtype)
        pooled = (h * keep).sum(1) / keep.sum(1).clamp(min=1)
        return self.head(self.dropout(pooled))


class TextLSTM(nn.Module):
    def __init__(self, V, C, pad, e=128, h=128):
        super().__init__()
        self.pad = pad
        self.embedding = nn.Embedding(V, e, padding_idx=pad)
        self.rnn = nn.LSTM(e, h, batch_first=True)
        self.head = nn.Linear(h, C)

    def forward(self, ids):
        out, _ = self.rnn(self.embedding(ids))
        last = pad_mask(ids, self.pad).logical_not().sum(1) - 1
        return self.head(out[torch.arange(ids.shape[0]), last])


class Block(nn.Module):
    """Pre-norm causal self-attention + GELU MLP, as Nabla's GPTBlock, with a KV cache."""

    def __init__(self, d, heads, ff):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d)
        self.in_proj = nn.Linear(d, 3 * d)
        self.out_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp_fc = nn.Linear(d, ff)
        self.mlp_proj = nn.Linear(ff, d)
        nn.init.xavier_uniform_(self.in_proj.weight)  # nn.MultiheadAttention's init, as Nabla's
        nn.init.zeros_(self.in_proj.bias)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x, cache=None):
        N, T, D = x.shape
        H = self.heads
        q, k, v = self.in_proj(self.ln_1(x)).split(D, 2)
        q, k, v = (t.view(N, T, H, D // H).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k = torch.cat([cache[0], k], 2)
            v = torch.cat([cache[1], v], 2)
        P = k.shape[2] - T
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D // H)
        causal = torch.ones(T, P + T, dtype=torch.bool).tril(P)
        s = s.masked_fill(~causal, float('-inf'))
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(N, T, D)
        x = x + self.out_proj(a)
        x = x + self.mlp_proj(F.gelu(self.mlp_fc(self.ln_2(x))))
        return x, (k, v)


class GPT(nn.Module):
    def __init__(self, V, ctx, d=128, heads=4, layers=4):
        super().__init__()
        self.ctx = ctx
        self.wte = nn.Embedding(V, d)
        self.wpe = nn.Embedding(ctx, d)
        self.h = nn.ModuleList([Block(d, heads, 4 * d) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, V, bias=False)

    def forward(self, ids, caches=None):
        P = 0 if caches is None else caches[0][0].shape[2]
        x = self.wte(ids) + self.wpe(torch.arange(P, P + ids.shape[1]))
        new = []
        for i, b in enumerate(self.h):
            x, c = b(x, None if caches is None else caches[i])
            new.append(c)
        return self.lm_head(self.ln_f(x)), new


def warmup_cosine(warmup, total):
    def f(s):
        if s < warmup:
            return s / warmup
        if s >= total:
            return 0.0
        return 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup)))
    return f


def pad_batch(rows, pad):
    T = max(1, max(len(r) for r in rows))
    x = torch.full((len(rows), T), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            x[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return x


def main():
    spec = json.load(open(sys.argv[1]))
    torch.manual_seed(spec['seed'])
    torch.set_num_threads(spec.get('threads', torch.get_num_threads()))
    model_name, pad, V = spec['model'], spec['padId'], spec['vocabSize']
    bs, epochs = spec['batchSize'], spec['epochs']
    g = torch.Generator().manual_seed(spec['seed'] + 2)
    if model_name == 'gpt':
        ctx = spec['maxLength']
        model = GPT(V, ctx)
        stream = torch.tensor(spec['train'], dtype=torch.long)
        n = (len(stream) - 1) // ctx
        X = torch.stack([stream[i * ctx: i * ctx + ctx] for i in range(n)])
        Y = torch.stack([stream[i * ctx + 1: i * ctx + ctx + 1] for i in range(n)])
        vs = torch.tensor(spec['val'], dtype=torch.long)
        nv = (len(vs) - 1) // ctx
        VX = torch.stack([vs[i * ctx: i * ctx + ctx] for i in range(nv)])
        VY = torch.stack([vs[i * ctx + 1: i * ctx + ctx + 1] for i in range(nv)])
        n_train = n
        batch = lambda idx: (X[idx], Y[idx])
        loss_fn = lambda o, y: F.cross_entropy(o.reshape(-1, V), y.reshape(-1))
    else:
        C = len(spec['classes'])
        model = TextTransformer(V, C, spec['maxLength'], pad) if model_name == 'text-transformer' else TextLSTM(V, C, pad)
        tr_ids, tr_y = spec['train']['ids'], torch.tensor(spec['train']['labels'], dtype=torch.long)
        n_train = len(tr_ids)
        batch = lambda idx: (pad_batch([tr_ids[i] for i in idx.tolist()], pad), tr_y[idx])
        loss_fn = F.cross_entropy
    steps_per_epoch = math.ceil(n_train / bs)
    total = max(1, steps_per_epoch * epochs)
    if spec.get('maxSteps'):
        total = min(total, spec['maxSteps'])
    opt = torch.optim.AdamW(model.parameters(), lr=spec['lr'], weight_decay=spec['weightDecay'])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(int(total * spec['warmupFraction']), total))
    times, losses, step = [], [], 0
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n_train, generator=g)
        for b in range(steps_per_epoch):
            if step >= total:
                break
            x, y = batch(perm[b * bs: (b + 1) * bs])
            t0 = time.perf_counter()
            out = model(x)[0] if model_name == 'gpt' else model(x)
            loss = loss_fn(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            times.append(time.perf_counter() - t0)
            losses.append(loss.item())
            step += 1
    model.eval()
    result = {'peer': 'pytorch', 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'model': model_name, 'steps': step,
              'stepSeconds': times, 'trainLoss': losses[-1] if losses else None}
    with torch.no_grad():
        if model_name == 'gpt':
            tot, cnt = 0.0, 0
            for i in range(0, nv, bs):
                o, _ = model(VX[i: i + bs])
                tot += F.cross_entropy(o.reshape(-1, V), VY[i: i + bs].reshape(-1), reduction='sum').item()
                cnt += VY[i: i + bs].numel()
            result['valLoss'] = tot / cnt
            # batch-1 eager generation with the KV cache, greedy, from the first tokens of the validation text
            prompt = VX[0, : spec['promptTokens']].unsqueeze(0)
            n_new = min(spec['generateTokens'], ctx - prompt.shape[1])
            t0 = time.perf_counter()
            o, caches = model(prompt)
            nxt = o[:, -1].argmax(-1, keepdim=True)
            for _ in range(n_new - 1):
                o, caches = model(nxt, caches)
                nxt = o[:, -1].argmax(-1, keepdim=True)
            result['generateTokens'] = n_new
            result['tokensPerSecond'] = n_new / (time.perf_counter() - t0)
        else:
            te_ids, te_y = spec['test']['ids'], torch.tensor(spec['test']['labels'], dtype=torch.long)
            correct, tot = 0, 0.0
            for i in range(0, len(te_ids), 256):
                o = model(pad_batch(te_ids[i: i + 256], pad))
                y = te_y[i: i + 256]
                correct += (o.argmax(1) == y).sum().item()
                tot += F.cross_entropy(o, y, reduction='sum').item()
            result['testAccuracy'] = correct / len(te_ids)
            result['testLoss'] = tot / len(te_ids)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
