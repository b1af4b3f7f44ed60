"""PyTorch's side of bench/text-steps.ts: a long-running process that times equal windows of
training steps of the text reference models on command (protocol: bench/peers/steps_protocol.py).
The networks are bench/peers/torch_text.py's (the peers of bench/text.ts), imported, not redefined.

  {"cmd": "setup", "model": "text-transformer"|"text-lstm"|"gpt", "seed": 0, "vocabSize": V,
   "numClasses": C, "maxLength": T, "padId": 0, "lr": 3e-4, "weightDecay": 0.01,
   "batches": [{"ids": [[...], ...], "y": [...] or [[...], ...]}, ...]}
Nabla sends the token ids (so both sides train on exactly the same inputs); each step takes the
next batch of that list in turn: zero_grad, forward, cross-entropy (over every position for gpt),
backward, AdamW step, loss.item().
Run: /usr/bin/python3 bench/peers/text_steps.py   (bench/text-steps.ts starts it)
"""
import os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from steps_protocol import serve, timed_window  # noqa: E402
from torch_text import GPT, TextLSTM, TextTransformer  # noqa: E402


class Trainer:
    def __init__(self, m):
        torch.manual_seed(m.get('seed', 0))
        name, V, C, T, pad = m['model'], m['vocabSize'], m['numClasses'], m['maxLength'], m['padId']
        self.gpt = name == 'gpt'
        if name == 'text-transformer':
            self.model = TextTransformer(V, C, T, pad)
        elif name == 'text-lstm':
            self.model = TextLSTM(V, C, pad)
        elif self.gpt:
            self.model = GPT(V, T)
        else:
            raise ValueError(f'unknown model {name!r}')
        self.V = V
        self.model.train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=m['lr'], weight_decay=m['weightDecay'])
        self.batches = [(torch.tensor(b['ids'], dtype=torch.long), torch.tensor(b['y'], dtype=torch.long)) for b in m['batches']]
        self.pos = 0

    def step(self):
        x, y = self.batches[self.pos]
        self.pos = (self.pos + 1) % len(self.batches)
        self.opt.zero_grad()
        if self.gpt:
            loss = F.cross_entropy(self.model(x)[0].reshape(-1, self.V), y.reshape(-1))
        else:
            loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def window(self, steps):
        return timed_window(steps, self.step)


def setup(m):
    t = Trainer(m)
    return t, {'parameters': sum(p.numel() for p in t.model.parameters())}


if __name__ == '__main__':
    serve(setup)
