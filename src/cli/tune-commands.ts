// The commands of hyper-parameter search and the job queue: tune, worker, jobs.

import { Command, InvalidArgumentError, Option } from 'commander';
import { nonNegativeInt, positiveFloat, positiveInt } from './args.js';

function integer(flag: string) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${flag} expects an integer, got '${v}'.`);
    return Number(v);
  };
}

const QUEUE_HELP = 'Redis URL of the job queue (redis://HOST:PORT)';

export function registerTuneCommands(program: Command): void {
  program
    .command('tune')
    .description('Search hyper-parameters: trials are `nabla train` runs drawn from a space (grid, random, TPE), stopped early by ASHA, run in parallel here or on queue workers.')
    .option('--space <file.json>', 'the search space: {"lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2}, "batchSize": {"type": "choice", "values": [32, 64]}, ...}')
    .option('--model <name|arch.json>', 'model, as for train', 'mlp')
    .option('--dataset <name|dir|file.csv>', 'dataset, as for train')
    .option('--epochs <n>', 'full budget of each trial (default: the model\'s)', positiveInt('--epochs'))
    .option('--trials <n>', 'search trials (grid: at most the grid size)', positiveInt('--trials'), 16)
    .addOption(new Option('--algo <name>', 'search algorithm').choices(['grid', 'random', 'tpe']).default('tpe'))
    .addOption(new Option('--metric <name>', 'what to optimise').choices(['valAccuracy', 'valLoss', 'testAccuracy', 'testLoss']).default('valAccuracy'))
    .addOption(new Option('--mode <mode>', 'max or min (default: max for accuracy, min for loss)').choices(['max', 'min']))
    .option('--parallel <n>', 'trials at once', positiveInt('--parallel'), 1)
    .option('--seed <n>', 'seed of the search and of every trial', nonNegativeInt('--seed'), 0)
    .option('--no-asha', 'run every trial to its full budget (no early stopping)')
    .option('--grace-period <n>', 'ASHA: epochs before a trial can be stopped', positiveInt('--grace-period'), 1)
    .option('--reduction-factor <n>', 'ASHA: keep the best 1/η at each rung', positiveInt('--reduction-factor'), 3)
    .option('--top-k <n>', 'how many of the best configurations to repeat with other seeds', nonNegativeInt('--top-k'), 2)
    .option('--repeats <n>', 'runs of each repeated configuration in all (1 = no repeats)', positiveInt('--repeats'), 3)
    .option('--threads-per-trial <n>', 'threads of each trial (default: cores ÷ parallel)', positiveInt('--threads-per-trial'))
    .option('--trial-memory-mb <n>', 'free memory a trial needs before it starts', positiveFloat('--trial-memory-mb'), 512)
    .option('--out <dir>', 'tune directory (default runs/tune-<time>)')
    .option('--resume <dir>', 'continue a tune (after a kill: finished trials are kept, cut-off ones resume)')
    .option('--queue <url>', `${QUEUE_HELP}: trials run on \`nabla worker\`s instead of here`)
    .option('--queue-name <name>', 'queue name', 'nabla')
    .option('--priority <n>', 'priority of the trials\' jobs (higher first, -1000..1000)', integer('--priority'), 0)
    .option('--backend <name>', 'compute backend of the trials')
    .option('--val-split <fraction>', 'validation fraction of each trial (as for train)', positiveFloat('--val-split'))
    .option('--label-column <name>', 'label column of a CSV dataset')
    .option('--json', 'one JSON line per finished trial and a final JSON report')
    .action(async (opts) => {
      const { runTune } = await import('./tune.js');
      await runTune(opts);
    });

  program
    .command('worker')
    .description('Run training jobs (tune trials, `nabla jobs submit`) from a Redis queue.')
    .requiredOption('--queue <url>', QUEUE_HELP)
    .option('--queue-name <name>', 'queue name', 'nabla')
    .option('--concurrency <n>', 'jobs at once', positiveInt('--concurrency'), 1)
    .option('--threads <n>', 'threads per job (default: cores ÷ concurrency)', positiveInt('--threads'))
    .option('--work-dir <dir>', 'where job run directories go', 'runs/worker')
    .option('--lock-ms <n>', 'how long a silent worker keeps its jobs before they go to another', positiveInt('--lock-ms'))
    .option('--no-warm', 'start a new process for every job (default: one warm process per slot runs job after job)')
    .action(async (opts) => {
      const { runWorker } = await import('./jobs.js');
      await runWorker(opts);
    });

  const jobs = program.command('jobs').description('Submit, list, cancel and read the logs of queued jobs.').enablePositionalOptions();
  jobs
    .command('submit')
    .description('Queue a job: `nabla jobs submit --queue URL [--priority N] train --model cnn ...`')
    .argument('<command>', 'train')
    .argument('[args...]', 'its flags, as on the command line')
    .requiredOption('--queue <url>', QUEUE_HELP)
    .option('--queue-name <name>', 'queue name', 'nabla')
    .option('--priority <n>', 'higher runs first, -1000..1000', integer('--priority'), 0)
    .option('--attempts <n>', 'attempts in all (retried with exponential backoff)', positiveInt('--attempts'), 3)
    .option('--wait', 'follow the job to its end')
    .option('--json', 'JSON output')
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (command, args, opts) => {
      const { runSubmit } = await import('./jobs.js');
      await runSubmit(command, args, opts);
    });
  jobs
    .command('list')
    .description('Jobs of a queue with their state, priority and progress.')
    .requiredOption('--queue <url>', QUEUE_HELP)
    .option('--queue-name <name>', 'queue name', 'nabla')
    .option('--state <state>', 'all | waiting | prioritized | active | delayed | completed | failed', 'all')
    .option('--json', 'one JSON line per job')
    .action(async (opts) => {
      const { runList } = await import('./jobs.js');
      await runList(opts);
    });
  jobs
    .command('cancel')
    .argument('<id>', 'job id')
    .description('Remove a waiting job, or ask its worker to stop a running one.')
    .requiredOption('--queue <url>', QUEUE_HELP)
    .option('--queue-name <name>', 'queue name', 'nabla')
    .action(async (id, opts) => {
      const { runCancel } = await import('./jobs.js');
      await runCancel(id, opts);
    });
  jobs
    .command('logs')
    .argument('<id>', 'job id')
    .description("A job's log (its nabla train output).")
    .requiredOption('--queue <url>', QUEUE_HELP)
    .option('--queue-name <name>', 'queue name', 'nabla')
    .action(async (id, opts) => {
      const { runLogs } = await import('./jobs.js');
      await runLogs(id, opts);
    });
}
