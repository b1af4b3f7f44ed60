"""PyTorch's side of bench/cnn-pairs.ts: a long-running process that times equal windows of training
steps on command, so that the windows it runs between Nabla's are warm and alike (no process start,
data load or thread-pool start inside any of them).

Protocol: one JSON object per line on stdin, one JSON line answered on stdout for each.
  {"cmd": "setup", "model": "mlp"|"cnn", "seed": 0}     load Fashion-MNIST, build the model, Adam 1e-3
  {"cmd": "threads", "n": 2}                            torch.set_num_threads(n)
  {"cmd": "window", "steps": 300}                       time `steps` training steps
  {"cmd": "quit"}
Each step is the loop a PyTorch user writes over pre-normalised tensors: a batch indexed out of the
whole training set by a shuffled permutation (reshuffled when it runs out, untimed), zero_grad,
forward, cross-entropy, backward, step, loss.item().
Run: /usr/bin/python3 bench/peers/cnn_steps.py   (bench/cnn-pairs.ts starts it)
"""
import json, os, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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
        idx = [self.batch_index() for _ in range(steps)]
        loss_sum = 0.0
        t, c = time.perf_counter(), time.process_time()
        for i in idx:
            self.opt.zero_grad()
            loss = F.cross_entropy(self.model(self.x[i]), self.y[i])
            loss.backward()
            self.opt.step()
            loss_sum += loss.item()
        return {'seconds': time.perf_counter() - t, 'cpuSeconds': time.process_time() - c,
                'meanLoss': loss_sum / steps}


def main():
    trainer = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            m = json.loads(line)
            cmd = m.get('cmd')
            if cmd == 'setup':
                trainer = Trainer(m['model'], m.get('seed', 0))
                out = {'ok': True, 'version': torch.__version__, 'threads': torch.get_num_threads(),
                       'stepsPerEpoch': trainer.steps_per_epoch, 'batchSize': trainer.batch}
            elif cmd == 'threads':
                torch.set_num_threads(int(m['n']))
                out = {'ok': True, 'threads': torch.get_num_threads()}
            elif cmd == 'window':
                if trainer is None:
                    raise RuntimeError('window before setup')
                out = {'ok': True, 'threads': torch.get_num_threads(), **trainer.window(int(m['steps']))}
            elif cmd == 'quit':
                print(json.dumps({'ok': True}), flush=True)
                return
            else:
                raise ValueError(f'unknown command {cmd!r}')
        except Exception as e:  # answered, not hidden: the bench stops with this message
            out = {'ok': False, 'error': f'{type(e).__name__}: {e}'}
        out['loadavg'] = list(os.getloadavg())
        print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
