// Entry of a warm trial process (host.ts starts it): loads the CLI once, then runs one `nabla`
// command after another in this process, each asked for as a JSON line on stdin:
//   {"id": 3, "args": ["train", "--model", "mlp", ..., "--json"]}
// and answered on stdout, after the command's own JSON lines, by
//   {"nablaHostDone": 3, "ok": true}   or   {"nablaHostDone": 3, "ok": false, "error": "nabla: ..."}
// A fresh process per trial cost more CPU than a small trial itself: node's start, loading the
// CLI and its kernels (~0.4 s CPU) and compiling the training loop again (the first epoch ran
// 3-4× slower than the next). stdout and stderr keep their meaning (the command's JSON lines and
// its log lines); the end line follows the command's last line on the same pipe, so the parent
// never sees a job end before its results. A failed command is answered like `nabla`'s own exit
// (one line, the usage exit code), and the host then exits: the next job gets a fresh process, so
// nothing a failure left behind reaches it. The watch on the parent comes first, as in child.ts.

import './watch-parent.js';
import { createInterface } from 'node:readline';

const loadStart = performance.now();
const { buildProgram, EXIT_USAGE } = await import('../cli/main.js');
const { UsageError } = await import('../cli/errors.js');
const { NablaError } = await import('../errors.js');
const { CommanderError } = await import('commander');
// the command modules main.ts loads lazily: here once, before the first job
await import('../cli/train.js');

const say = (v: object) => process.stdout.write(JSON.stringify(v) + '\n');

/** The one line `nabla` prints for an error it expects (main.ts), or null for a bug. */
function expectedError(e: unknown): string | null {
  if (e instanceof CommanderError) return e.message.replace(/^error: /, '');
  if (e instanceof UsageError) return e.message;
  if (e instanceof NablaError) return `${e.message} [${e.code}]`;
  const sys = e as NodeJS.ErrnoException;
  if (typeof sys?.code === 'string' && typeof sys.syscall === 'string') return sys.message;
  return null;
}

// A reader gone from stdout means the parent is gone: nothing is left to report to.
process.stdout.on('error', () => process.exit(EXIT_USAGE));

let busy = false;
let closing = false;
const lines = createInterface({ input: process.stdin });
lines.on('line', (l) => {
  let job: { id: number; args: string[] };
  try {
    job = JSON.parse(l) as { id: number; args: string[] };
  } catch {
    return;
  }
  if (busy) {
    // the parent sends one job at a time; a second is a bug in it, refused rather than interleaved
    say({ nablaHostDone: job.id, ok: false, error: 'nabla: the trial process is busy with another job' });
    return;
  }
  busy = true;
  void (async () => {
    try {
      await buildProgram().parseAsync(job.args, { from: 'user' });
      busy = false;
      say({ nablaHostDone: job.id, ok: true });
      if (closing) process.exit(0);
    } catch (e) {
      const line = expectedError(e);
      // writes to pipes are synchronous on Linux: both lines are out before the exit
      process.stderr.write(line !== null ? `nabla: ${line.replace(/\s*[\r\n]+\s*/g, ' ')}\n` : `${(e as Error)?.stack ?? String(e)}\n`);
      const code = line !== null ? EXIT_USAGE : 1;
      say({ nablaHostDone: job.id, ok: false, exitCode: code });
      process.exit(code);
    }
  })();
});
// stdin closed (the worker let this host go): exit now, or once the job in progress is done
lines.on('close', () => {
  closing = true;
  if (!busy) process.exit(0);
});
say({ nablaHostReady: true, loadMs: performance.now() - loadStart });
