"""PyTorch's side of bench/cnn-pairs.ts: a long-running process that times equal windows of training
steps on command, so that the windows it runs between Nabla's are warm and alike (no process start,
data load or thread-pool start inside any of them).

Protocol (bench/peers/steps_protocol.py): setup is
  {"cmd": "setup", "model": "mlp"|"cnn", "seed": 0}     load Fashion-MNIST, build the model, Adam 1e-3
then "threads", "window" and "quit" commands.
Each step is the loop a PyTorch user writes over pre-normalised tensors: a batch indexed out of the
whole training set by a shuffled permutation (reshuffled when it runs out, untimed), zero_grad,
forward, cross-entropy, backward, step, loss.item().
Run: /usr/bin/python3 bench/peers/cnn_steps.py   (bench/cnn-pairs.ts starts it)
"""
import os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from steps_protocol import serve, timed_window  # noqa: E402
from torch_common import cnn, load_split, mlp  # noqa: E402

DATA = '/usr/share/datasets/fashion-mnist'
MODELS = {'mlp': (mlp, 64), 'cnn': (cnn, 32)}


class Trainer:
    def __init__(self, model, seed):
        build, self.batch = MODELS[model]
        self.x, self.y = load_split('train', DATA)
        torch.manual_seed(seed)
        self.model = build()
        self.model.train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.n = len(self.x)
        self.steps_per_epoch = self.n // self.batch  # whole batches only, so every step is alike
        self.perm = torch.randperm(self.n)
        self.pos = 0

    def batch_index(self):
        if self.pos == self.steps_per_epoch:
            self.perm, self.pos = torch.randperm(self.n), 0
        i = self.perm[self.pos * self.batch:(self.pos + 1) * self.batch]
        self.pos += 1
        return i

    def window(self, steps):
        # The index batches are drawn before the clock starts: a reshuffle is not a step's work.
        idx = iter([self.batch_index() for _ in range(steps)])

        def step():
            i = next(idx)
            self.opt.zero_grad()
            loss = F.cross_entropy(self.model(self.x[i]), self.y[i])
            loss.backward()
            self.opt.step()
            return loss.item()
        return timed_window(steps, step)


def setup(m):
    t = Trainer(m['model'], m.get('seed', 0))
    return t, {'stepsPerEpoch': t.steps_per_epoch, 'batchSize': t.batch}


def main():
    serve(setup)


if __name__ == '__main__':
    main()
