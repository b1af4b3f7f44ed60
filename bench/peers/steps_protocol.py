"""The line protocol of the long-running PyTorch step peers (bench/peers/cnn_steps.py,
bench/peers/text_steps.py), driven by bench/pairs.ts: one JSON object per line on stdin, one JSON
line answered on stdout for each.
  {"cmd": "setup", ...}             build the workload: setup(message) -> (trainer, extra answer fields)
  {"cmd": "threads", "n": 2}        torch.set_num_threads(n)
  {"cmd": "window", "steps": 300}   trainer.window(steps) -> {seconds, cpuSeconds, meanLoss}
  {"cmd": "quit"}
Every answer carries "ok" and the load average; an exception is answered as {"ok": false, "error"}.
"""
import json, os, sys, time

import torch


def timed_window(steps, step):
    """Run `step()` (one training step, returning the loss as a float) `steps` times on the clock."""
    loss_sum = 0.0
    t, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        loss_sum += step()
    return {'seconds': time.perf_counter() - t, 'cpuSeconds': time.process_time() - c, 'meanLoss': loss_sum / steps}


def serve(setup):
    trainer = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            m = json.loads(line)
            cmd = m.get('cmd')
            if cmd == 'setup':
                trainer, extra = setup(m)
                out = {'ok': True, 'version': torch.__version__, 'threads': torch.get_num_threads(), **extra}
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
