// `nabla` command line: train | eval | predict | serve | info. Argument errors print one line and exit 2.

import { Command, CommanderError, Option } from 'commander';
import { NablaError } from '../errors.js';
import { fraction, nonNegativeInt, positiveFloat, positiveInt } from './args.js';
import { UsageError } from './errors.js';

export const EXIT_USAGE = 2;


function fail(message: string): never {
  process.stderr.write(`nabla: ${message}\n`);
  process.exit(EXIT_USAGE);
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('nabla')
    .description('Nabla (∇): train, evaluate and use neural networks from the command line.')
    .exitOverride()
    .configureOutput({ writeErr: () => {} , outputError: () => {} })
    .showHelpAfterError(false);

  program
    .command('train')
    .description('Train a model (default: the `mlp` reference model on the bundled MNIST digits), evaluate it and save it.')
    .option('--model <name|arch.json>', 'mlp | cnn | mlp-sgd | perceptron | path to an architecture JSON', 'mlp')
    .option('--dataset <name|dir|file.csv>', 'mnist-bundled | mnist | fashion-mnist | and | or | xor | IDX directory | CSV file (default: per model)')
    .option('--epochs <n>', 'epochs (default: per model)', positiveInt('--epochs'))
    .option('--batch-size <n>', 'batch size (default: per model)', positiveInt('--batch-size'))
    .option('--lr <x>', 'learning rate (default: per model)', positiveFloat('--lr'))
    .addOption(new Option('--optimizer <name>', 'optimizer (default: per model)').choices(['sgd', 'adam', 'adamw', 'adagrad', 'rmsprop']))
    .option('--seed <n>', 'random seed', nonNegativeInt('--seed'), 0)
    .option('--out <dir>', 'where to write the run (checkpoints) and the model (default: runs/latest; an earlier run there is first moved to runs/<its start time>)')
    .option('--resume <dir>', 'resume an interrupted run from its directory (bit-exact)')
    .option('--checkpoint-every <n>', 'write a checkpoint every N steps (default: every epoch)', positiveInt('--checkpoint-every'))
    .option('--val-split <fraction>', 'fraction of the training set held out for validation (default 0.1; 0 for none)', fraction('--val-split'))
    .option('--label-column <name>', 'label column of a CSV dataset', 'label')
    .option('--backend <name>', 'compute backend (see `nabla info`)')
    .option('--json', 'print one JSON line per epoch and a final JSON line with the test metrics')
    .option('--alert-memory-mb <n>', 'warn when the resident memory exceeds this many MB', positiveFloat('--alert-memory-mb'))
    .option('--alert-cpu-percent <n>', 'warn when CPU use exceeds this percentage (100 = one core)', positiveFloat('--alert-cpu-percent'))
    .addOption(new Option('--weights-dtype <dtype>', 'store the saved weights as f32 (default), f16 or bf16 (loaded back as float32)').choices(['f32', 'f16', 'bf16']))
    .action(async (opts) => {
      const { runTrain } = await import('./train.js');
      await runTrain(opts);
    });

  program
    .command('eval')
    .description('Evaluate a saved model on a dataset: loss, accuracy, per-class precision/recall/F1, confusion matrix.')
    .argument('<model-dir>', 'a model directory written by `nabla train`')
    .option('--dataset <name|dir|file.csv>', 'dataset (default: the one the model was trained on)')
    .option('--label-column <name>', 'label column of a CSV dataset', 'label')
    .option('--backend <name>', 'compute backend')
    .option('--json', 'print the metrics as one JSON line')
    .action(async (dir, opts) => {
      const { runEval } = await import('./eval.js');
      await runEval(dir, opts);
    });

  program
    .command('predict')
    .description('Classify PNG images with a saved image model.')
    .argument('<model-dir>', 'a model directory written by `nabla train`')
    .argument('<files...>', 'PNG files (resized to the model input, converted to grey)')
    .option('--backend <name>', 'compute backend')
    .option('--json', 'print one JSON line per file')
    .action(async (dir, files, opts) => {
      const { runPredict } = await import('./predict.js');
      await runPredict(dir, files, opts);
    });

  program
    .command('serve')
    .description('Serve model directories over HTTP (Open Inference Protocol v2): health, metadata, infer, PNG predict, Prometheus /metrics.')
    .argument('<model-dir...>', 'model directories written by `nabla train` (name=dir to choose the model name)')
    .option('--port <n>', 'TCP port (0 picks a free one)', nonNegativeInt('--port'), 8000)
    .option('--host <address>', 'address to bind (default loopback only; 0.0.0.0 exposes the server to the network)', '127.0.0.1')
    .option('--max-batch <n>', 'most samples per forward pass when batching concurrent requests', positiveInt('--max-batch'), 32)
    .option('--max-wait-ms <n>', 'how long a request may wait for others to batch with', nonNegativeInt('--max-wait-ms'), 0)
    .option('--max-queue <n>', 'most requests queued per model; beyond it 503 with Retry-After', positiveInt('--max-queue'), 256)
    .option('--timeout-ms <n>', 'deadline per request for queueing and compute (504 past it)', positiveInt('--timeout-ms'), 30000)
    .option('--body-limit <bytes>', 'largest request body (413 beyond it)', positiveInt('--body-limit'), 6553500)
    .option('--exit-timeout-ms <n>', 'on SIGTERM, how long to wait for in-flight requests', nonNegativeInt('--exit-timeout-ms'), 30000)
    .option('--allow-reload', 'enable POST /v2/repository/models/{name}/load (SIGHUP reloads regardless)')
    .option('--strict-readiness', 'report the server ready only when every model is ready')
    .option('--alert-memory-mb <n>', 'warn (and count in /metrics) when the resident memory exceeds this many MB', positiveFloat('--alert-memory-mb'))
    .option('--alert-cpu-percent <n>', 'warn (and count in /metrics) when CPU use exceeds this percentage (100 = one core)', positiveFloat('--alert-cpu-percent'))
    .option('--backend <name>', 'compute backend')
    .addOption(new Option('--load-delay-ms <n>', 'delay each model load (testing)').argParser(nonNegativeInt('--load-delay-ms')).hideHelp())
    .action(async (dirs, opts) => {
      const { runServe } = await import('./serve.js');
      await runServe(dirs, opts);
    });

  program
    .command('export')
    .description('Write a model directory as an ONNX file (opset 17, dynamic batch) that onnxruntime and other tools run.')
    .argument('<model-dir>', 'a model directory written by `nabla train`')
    .addOption(new Option('--format <format>', 'interchange format').choices(['onnx']).makeOptionMandatory())
    .requiredOption('--out <file>', 'the file to write, e.g. model.onnx')
    .option('--opset <n>', 'ONNX opset of the default domain (17 to 21)', positiveInt('--opset'))
    .option('--json', 'print a JSON summary')
    .action(async (dir, opts) => {
      const { runExport } = await import('./export.js');
      runExport(dir, opts);
    });

  program
    .command('import')
    .description('Turn an ONNX model (Nabla\'s or torch.onnx.export\'s, supported ops only) into a model directory.')
    .argument('<model.onnx>', 'the ONNX file')
    .requiredOption('--out <dir>', 'the model directory to write')
    .option('--classes <names>', 'comma-separated class names (default: from a Nabla export, else 0..k-1)')
    .option('--json', 'print a JSON summary')
    .action(async (file, opts) => {
      const { runImport } = await import('./import.js');
      runImport(file, opts);
    });

  program
    .command('compress')
    .description('Prune and/or quantise (int8) a model directory; report size, accuracy and latency before and after.')
    .argument('<model-dir>', 'a model directory written by `nabla train`')
    .requiredOption('--out <dir>', 'the compressed model directory to write')
    .addOption(new Option('--prune <method>', 'magnitude pruning: unstructured (zero weights) or structured (remove neurons/channels)').choices(['unstructured', 'structured']))
    .option('--sparsity <fraction>', 'fraction pruned (default 0.5)', fraction('--sparsity'))
    .addOption(new Option('--prune-scope <scope>', 'unstructured: one threshold over all layers or per layer').choices(['global', 'layer']))
    .option('--finetune-epochs <n>', 'fine-tune after pruning (Adam, lr 1e-4 unless --lr)', nonNegativeInt('--finetune-epochs'))
    .addOption(new Option('--quantize <mode>', 'int8: static (calibrated; Linear+Conv2d), dynamic (Linear), none (default: static without --prune, none with it)').choices(['static', 'dynamic', 'none']))
    .addOption(new Option('--observer <kind>', 'static calibration: min-max range or a percentile').choices(['minmax', 'percentile']))
    .option('--percentile <p>', 'with --observer percentile (default 99.99)', positiveFloat('--percentile'))
    .option('--calibration-samples <n>', 'training samples used to calibrate (default 256)', positiveInt('--calibration-samples'))
    .option('--dataset <name|dir|file.csv>', 'data for fine-tuning, calibration and the accuracy report (default: the model\'s)')
    .option('--label-column <name>', 'label column of a CSV dataset', 'label')
    .option('--batch-size <n>', 'fine-tuning batch size (default: the model\'s)', positiveInt('--batch-size'))
    .option('--lr <x>', 'fine-tuning learning rate (default 1e-4)', positiveFloat('--lr'))
    .option('--seed <n>', 'random seed', nonNegativeInt('--seed'), 0)
    .addOption(new Option('--weights-dtype <dtype>', 'float outputs: store weights as f32, f16 or bf16').choices(['f32', 'f16', 'bf16']))
    .option('--latency-reps <n>', 'timed forward passes at batch 256 (10× that at batch 1)', positiveInt('--latency-reps'))
    .option('--backend <name>', 'compute backend for the float layers')
    .option('--json', 'print the report as one JSON line')
    .action(async (dir, opts) => {
      const { runCompress } = await import('./compress.js');
      await runCompress(dir, opts);
    });

  program
    .command('info')
    .description('Show the version, the active backend and why the others are or are not available.')
    .option('--json', 'print as JSON')
    .action(async (opts) => {
      const { runInfo } = await import('./info.js');
      runInfo(opts);
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
      fail(e.message.replace(/^error: /, ''));
    }
    if (e instanceof UsageError) fail(e.message);
    if (e instanceof NablaError) fail(`${e.message} [${e.code}]`);
    throw e;
  }
}
