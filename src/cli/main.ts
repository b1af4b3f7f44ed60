// `nabla` command line: train | eval | predict | serve | data | info. Argument errors print one
// line and exit 2; so does any typed error; a closed stdout (`nabla train --json | head -2`) ends
// the command quietly with exit 2.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { NablaError } from '../errors.js';
import { fraction, nonNegativeFloat, nonNegativeInt, positiveFloat, positiveInt } from './args.js';
import { UsageError } from './errors.js';
import { registerTuneCommands } from './tune-commands.js';

export const EXIT_USAGE = 2;


/** One line on stderr whatever the message holds (JSON.parse quotes the text it failed on). */
function fail(message: string): never {
  process.stderr.write(`nabla: ${message.replace(/\s*[\r\n]+\s*/g, ' ')}\n`);
  process.exit(EXIT_USAGE);
}

/**
 * A reader that goes away (`| head`) makes the next write fail with EPIPE, reported as an 'error'
 * event; without a listener Node prints a stack trace. Stop quietly instead: the output is no
 * longer wanted. Other stream errors are one line, like every other failure.
 */
function handleClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(EXIT_USAGE);
      if (stream === process.stdout) fail(`cannot write the output: ${e.message}`);
      process.exit(EXIT_USAGE);
    });
  }
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
    .option('--model <name|arch.json>', 'mlp | cnn | mlp-sgd | perceptron | text-transformer | text-lstm | gpt | path to an architecture JSON (default: mlp)')
    .option('--dataset <name|dir|file.csv>', 'mnist-bundled | mnist | fashion-mnist | and | or | xor | IDX directory | CSV file; text models: spam-assassin | CSV with --text-column | corpus .txt (gpt) (default: per model)')
    .option('--text-column <name>', 'text models: the CSV column holding the text (default: text)')
    .option('--max-length <n>', 'text models: longest token sequence, longer texts are truncated (default 256; gpt: its context, 128)', positiveInt('--max-length'))
    .option('--tokenizer <char|file.json>', 'text models: char (built from the training text, default) or a saved tokenizer.json')
    .option('--epochs <n>', 'epochs (default: per model); with --resume, a larger count extends the run', positiveInt('--epochs'))
    .option('--batch-size <n>', 'batch size (default: per model)', positiveInt('--batch-size'))
    .option('--lr <x>', 'learning rate (default: per model)', positiveFloat('--lr'))
    .addOption(new Option('--optimizer <name>', 'optimizer (default: per model)').choices(['sgd', 'adam', 'adamw', 'adagrad', 'rmsprop']))
    .option('--lr-schedule <spec>', 'learning-rate schedule, stepped each epoch: inverse-time:BETA (lr/(1+BETA·epoch)) | step:SIZE[,GAMMA] | cosine[:ETA_MIN] | plateau[:PATIENCE[,FACTOR]]')
    .option('--weight-decay <x>', 'L2 weight decay (decoupled for adamw)', nonNegativeFloat('--weight-decay'))
    .option('--momentum <x>', 'momentum (sgd, rmsprop)', nonNegativeFloat('--momentum'))
    .option('--dropout <p>', 'dropout rate of the reference models (mlp 0.5, mlp-sgd and cnn 0 by default)', fraction('--dropout'))
    .option('--early-stopping <patience>', 'stop after this many epochs without improvement of the validation loss (training loss without validation)', nonNegativeInt('--early-stopping'))
    .option('--seed <n>', 'random seed (default 0)', nonNegativeInt('--seed'))
    .option('--out <dir>', 'where to write the run (checkpoints) and the model (default: runs/latest; an earlier run there is first moved to runs/<its start time>)')
    .option('--resume <dir>', 'continue a run from its directory (bit-exact; from step 0 if it has no checkpoint yet)')
    .option('--checkpoint-every <n>', 'write a checkpoint every N steps (default: every epoch)', positiveInt('--checkpoint-every'))
    .option('--val-split <fraction>', 'fraction of the training set held out for validation (default 0.1; 0 for none)', fraction('--val-split'))
    .option('--label-column <name>', 'label column of a CSV dataset (default: label)')
    .option('--backend <name>', 'compute backend (see `nabla info`)')
    .option('--device <name>', "where the model trains: cpu (default) or webgpu (the GPU; see `nabla info`)")
    .option('--json', 'print one JSON line per epoch and a final JSON line with the test metrics')
    .option('--alert-memory-mb <n>', 'warn when the resident memory exceeds this many MB', positiveFloat('--alert-memory-mb'))
    .option('--alert-cpu-percent <n>', 'warn when CPU use exceeds this percentage (100 = one core)', positiveFloat('--alert-cpu-percent'))
    .option('--store <path>', 'tracking store (default: nabla.db beside the run directory, runs/nabla.db by default)')
    .option('--no-track', 'do not record the run in the tracking store')
    .option('--tensorboard <dir>', 'also write TensorBoard event files to this directory')
    .addOption(new Option('--weights-dtype <dtype>', 'store the saved weights as f32 (default), f16 or bf16 (loaded back as float32)').choices(['f32', 'f16', 'bf16']))
    .action(async (opts) => {
      const { runTrain } = await import('./train.js');
      await runTrain(opts);
    });

  program
    .command('eval')
    .description('Evaluate a saved model on a dataset: loss, accuracy, per-class precision/recall/F1, confusion matrix.')
    .argument('<model-dir>', 'a model directory written by `nabla train` (or its run directory)')
    .option('--dataset <name|dir|file.csv>', 'dataset (default: the one the model was trained on, its test split); a CSV is matched to the model by column and label names')
    .option('--label-column <name>', 'label column of a CSV dataset', 'label')
    .option('--text-column <name>', 'text models: the CSV column holding the text (default: the one the model was trained with)')
    .option('--backend <name>', 'compute backend')
    .option('--device <name>', 'where the model runs: cpu (default) or webgpu (the GPU; see `nabla info`)')
    .option('--allow-non-finite', 'load a model whose weights hold NaN or ±Inf (refused by default)')
    .option('--json', 'print the metrics as one JSON line')
    .action(async (dir, opts) => {
      const { runEval } = await import('./eval.js');
      await runEval(dir, opts);
    });

  program
    .command('predict')
    .description('Classify PNG images with a saved image model, or texts (--text) with a text classifier.')
    .argument('<model-dir>', 'a model directory written by `nabla train` (or its run directory)')
    .argument('[files...]', 'PNG files (converted to grey and fitted to the model input)')
    .option('--text <text>', 'text models: a text to classify (repeat for several)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .addOption(new Option('--fit <how>', "how a picture is fitted to 28×28: digit (MNIST's: ink cropped, longer side 20 px, centre of mass centred), pad (to a square), stretch (default: as recorded in model.json)").choices(['digit', 'pad', 'stretch']))
    .option('--allow-non-finite', 'load a model whose weights hold NaN or ±Inf (refused by default)')
    .option('--backend <name>', 'compute backend')
    .option('--json', 'print one JSON line per file')
    .action(async (dir, files, opts) => {
      const { runPredict } = await import('./predict.js');
      await runPredict(dir, files, opts);
    });

  program
    .command('generate')
    .description('Continue a prompt with a trained language model (nabla train --model gpt), token by token, with a key/value cache.')
    .argument('<model-dir>', 'a gpt model directory written by `nabla train` (or its run directory)')
    .requiredOption('--prompt <text>', 'the text to continue (at most the model\'s context in tokens)')
    .option('--max-tokens <n>', 'tokens to generate', positiveInt('--max-tokens'), 100)
    .option('--temperature <t>', 'softmax temperature; 0 = always the most likely token', nonNegativeFloat('--temperature'), 1)
    .option('--top-k <k>', 'sample among the k most likely tokens only', positiveInt('--top-k'))
    .option('--seed <n>', 'sampling seed', nonNegativeInt('--seed'), 0)
    .option('--no-cache', 'recompute the whole window for every token (slower; for comparison)')
    .option('--backend <name>', 'compute backend')
    .option('--allow-non-finite', 'load a model whose weights hold NaN or ±Inf (refused by default)')
    .option('--json', 'print one JSON line: the text, token count and tokens/s')
    .action(async (dir, opts) => {
      const { runGenerate } = await import('./generate.js');
      runGenerate(dir, opts);
    });

  program
    .command('serve')
    .description('Serve model directories over HTTP (Open Inference Protocol v2): health, metadata, infer, PNG predict, Prometheus /metrics.')
    .argument('<model-dir...>', 'model directories written by `nabla train` (name=dir to choose the model name), or registry:NAME@STAGE')
    .option('--port <n>', 'TCP port (0 picks a free one)', nonNegativeInt('--port'), 8000)
    .option('--host <address>', 'address to bind (default loopback only; 0.0.0.0 exposes the server to the network)', '127.0.0.1')
    .option('--max-batch <n>', 'most samples per forward pass when batching concurrent requests', positiveInt('--max-batch'), 32)
    .option('--max-rows <n>', 'most samples one request may carry (400 beyond; larger requests run in slices of --max-batch)', positiveInt('--max-rows'), 1024)
    .option('--allow-non-finite', 'serve models whose weights hold NaN or infinite values (refused by default)')
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
    .option('--store <path>', 'tracking store for registry:NAME@STAGE models', 'runs/nabla.db')
    .option('--registry-poll-ms <n>', 'how often to check the registry for a new promotion', positiveInt('--registry-poll-ms'), 2000)
    .action(async (dirs, opts) => {
      const { runServe } = await import('./serve.js');
      await runServe(dirs, opts);
    });

  const dataCmd = program.command('data').description('Inspect and clean tabular data (CSV) before training.');
  dataCmd
    .command('report')
    .description('Data quality report: missing values, duplicates, invalid labels, value ranges, class balance, and consistency across several files.')
    .argument('<sources...>', 'CSV files, or a directory of CSV files (several sources are compared column by column)')
    .option('--label-column <name>', 'label column (default: label; none if the files have no such column)')
    .option('--json', 'print the report as one JSON line')
    .action(async (sources, opts) => {
      const { runDataReport } = await import('./data.js');
      runDataReport(sources, opts);
    });
  dataCmd
    .command('clean')
    .description('Write a cleaned CSV: merge the sources by column name, fill missing values, drop duplicate and invalid rows.')
    .argument('<sources...>', 'CSV files to merge (columns matched by name) and clean')
    .requiredOption('--out <file.csv>', 'where to write the cleaned CSV (written atomically)')
    .option('--label-column <name>', 'label column (default: label; none if the files have no such column)')
    .addOption(new Option('--fill <how>', 'fill missing feature values with the column mean, median or a constant (--fill-value); default: drop rows with missing values').choices(['mean', 'median', 'constant', 'drop']))
    .option('--fill-value <x>', 'the constant for --fill constant', (v: string) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`--fill-value expects a finite number, got '${v}'.`);
      return n;
    })
    .option('--keep-duplicates', 'keep repeated rows (dropped by default)')
    .addOption(new Option('--join <how>', 'columns kept when merging sources: outer (all, missing cells filled) or inner (shared only)').choices(['outer', 'inner']).default('outer'))
    .option('--json', 'print what was changed as one JSON line')
    .action(async (sources, opts) => {
      const { runDataClean } = await import('./data.js');
      runDataClean(sources, opts);
    });

  const runs = program.command('runs').description('Runs recorded in the tracking store: list, show, compare, rm.');
  const storeOpt = () => new Option('--store <path>', 'tracking store').default('runs/nabla.db');
  runs.command('list').description('List runs, newest first.').addOption(storeOpt()).option('--json', 'print as JSON')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(['running', 'finished', 'failed', 'stopped']))
    .option('--limit <n>', 'at most this many runs', positiveInt('--limit'))
    .action(async (opts) => (await import('./runs.js')).runsList(opts));
  runs.command('show').description('One run: config, code version, dataset, metrics, evaluation, artefacts.').argument('<run>', 'run id')
    .addOption(storeOpt()).option('--json', 'print as JSON')
    .action(async (id, opts) => (await import('./runs.js')).runsShow(id, opts));
  runs.command('compare').description('Runs side by side: the config that differs and every metric.').argument('<runs...>', 'two or more run ids')
    .addOption(storeOpt()).option('--json', 'print as JSON')
    .action(async (ids, opts) => (await import('./runs.js')).runsCompare(ids, opts));
  runs.command('rm').description('Delete runs from the store (their files on disk stay).').argument('<runs...>', 'run ids')
    .addOption(storeOpt()).option('--json', 'print as JSON')
    .action(async (ids, opts) => (await import('./runs.js')).runsRm(ids, opts));

  const models = program.command('models').description('The model registry: register a run\'s model as a version, promote versions through stages.');
  models.command('register').description('Register the model of a run as the next version of NAME.').argument('<run>', 'run id')
    .requiredOption('--name <name>', 'registered model name').addOption(storeOpt()).option('--json', 'print as JSON')
    .action(async (run, opts) => (await import('./models.js')).modelsRegister(run, opts));
  models.command('promote').description('Move a version to a stage (production and staging hold one version; the previous one is archived).').argument('<name>', 'registered model name')
    .requiredOption('--version <k>', 'version number', positiveInt('--version'))
    .addOption(new Option('--stage <stage>', 'target stage').choices(['production', 'staging', 'archived', 'none']).makeOptionMandatory())
    .addOption(storeOpt()).option('--json', 'print as JSON')
    .action(async (name, opts) => (await import('./models.js')).modelsPromote(name, opts));
  models.command('list').description('Registered models and their versions, stages and runs.').argument('[name]', 'only this model')
    .addOption(storeOpt()).option('--json', 'print as JSON')
    .action(async (name, opts) => (await import('./models.js')).modelsList(name, opts));

  program
    .command('ui')
    .description('Local web dashboard of the tracking store: runs, curves, confusion matrices, registry.')
    .addOption(storeOpt())
    .option('--port <n>', 'TCP port (0 picks a free one)', nonNegativeInt('--port'), 6006)
    .option('--host <address>', 'address to bind (default loopback only)', '127.0.0.1')
    .action(async (opts) => (await import('./ui.js')).runUi(opts));

  program
    .command('summary')
    .description('Show a saved model layer by layer: output shapes and parameter counts.')
    .argument('<model-dir>', 'a model directory (nabla train or saveModel())')
    .option('--batch-size <n>', 'batch size of the probe input', positiveInt('--batch-size'), 1)
    .option('--json', 'print as JSON')
    .action(async (dir, opts) => {
      const { runSummary } = await import('./summary.js');
      runSummary(dir, opts);
    });

  program
    .command('export')
    .description(
      'Write a model directory as an ONNX file that onnxruntime and other tools run (opsets 17 to 21, default 17; dynamic batch). ' +
        'Layer-chain models (mlp, cnn): Linear, Conv2d, MaxPool2d, AvgPool2d, BatchNorm1d/2d, LayerNorm, Flatten, Dropout, ReLU, LeakyReLU, Sigmoid, Tanh, ' +
        'GELU (the Gelu op at opset 20+, an Erf or Tanh subgraph below), SiLU, Softplus, Softmax, LogSoftmax, Identity; float input [batch, ...]. ' +
        'Text models (text-transformer, text-lstm, gpt): whole graphs (embeddings, attention with its padding or causal mask, encoder layers / GPT blocks, ' +
        'LSTM/GRU nodes read at each text\'s last token) on token ids [batch, sequence], the tokenizer carried in the metadata.',
    )
    .argument('<model-dir>', 'a model directory written by `nabla train`')
    .addOption(new Option('--format <format>', 'interchange format').choices(['onnx']).makeOptionMandatory())
    .requiredOption('--out <file>', 'the file to write, e.g. model.onnx')
    .option('--opset <n>', 'ONNX opset of the default domain (17 to 21)', positiveInt('--opset'))
    .addOption(new Option('--ids-dtype <type>', 'text models: element type of the token-id input (default int64)').choices(['int64', 'int32']))
    .option('--json', 'print a JSON summary')
    .action(async (dir, opts) => {
      const { runExport } = await import('./export.js');
      runExport(dir, opts);
    });

  program
    .command('import')
    .description('Turn an ONNX model into a model directory: a layer chain (Nabla\'s or torch.onnx.export\'s, supported ops only, opsets 13 to 21) or a text-transformer / gpt graph written by `nabla export`.')
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
    .option('--qat-epochs <n>', 'static int8: quantisation-aware training for N epochs (fake-quantised weights and inputs, observed ranges) instead of calibration', nonNegativeInt('--qat-epochs'))
    .addOption(new Option('--quantize <mode>', 'int8: static (calibrated; Linear+Conv2d), dynamic (Linear; text models: Linear and LSTM), none (default: static without --prune, none with it; dynamic for text models)').choices(['static', 'dynamic', 'none']))
    .addOption(new Option('--observer <kind>', 'static calibration: min-max range, a percentile, or entropy (KL-divergence threshold, as TensorRT)').choices(['minmax', 'percentile', 'entropy']))
    .option('--percentile <p>', 'with --observer percentile (default 99.99)', positiveFloat('--percentile'))
    .option('--no-reduce-range', "quantise Linear inputs to 8 bits (default: 7, as PyTorch's fbgemm reduce_range, for the byte dot-product kernels)")
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
      await runInfo(opts);
    });

  registerTuneCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  handleClosedPipes();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
      fail(e.message.replace(/^error: /, ''));
    }
    if (e instanceof UsageError) fail(e.message);
    if (e instanceof NablaError) fail(`${e.message} [${e.code}]`);
    // A system call that failed (ENOSPC, EACCES, EROFS, ...): the user's to fix, not a bug.
    const sys = e as NodeJS.ErrnoException;
    if (typeof sys?.code === 'string' && typeof sys.syscall === 'string') fail(sys.message);
    throw e;
  }
}
