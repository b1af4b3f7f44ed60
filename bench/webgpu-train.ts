// Training and inference throughput of the reference models on a device (--device webgpu) or the
// CPU: one epoch of fitAsync over Fashion-MNIST-shaped data (60,000 × 1×28×28 by default,
// synthetic: the values do not change the work, and the lent GPU machine has no data sets), after
// a few warm-up steps that compile the pipelines; then batch-256 inference of the same model
// (forward + readback of the logits, batches recorded back to back). Prints one JSON line.
// On llvmpipe (no GPU) this shows that the run works; it is not a speed figure.
// Run: npm run build && node dist/bench/webgpu-train.js --model cnn --device webgpu [--samples 60000]
//      [--batch 32] [--infer-batches 50] [--epochs 1]

// Not src/index.js: it also loads the server and dashboard modules, whose npm packages the lent GPU
// machine does not get (scripts/gpu-device-run.sh carries Node, Dawn and dist/ only).
import * as core from '../src/core.js';
import '../src/backend/wasm/platform-node.js';
import { jsBackend } from '../src/backend/js/index.js';
import { wasmBackend } from '../src/backend/wasm/index.js';
import { initWebGPU, webgpuBackend, webgpuSync } from '../src/backend/webgpu/backend.js';
import { TensorDataset } from '../src/data/dataset.js';
import { DataLoader } from '../src/data/loader.js';
import { fitAsync } from '../src/train/fit.js';
import { cnn, mlp } from '../src/models/reference.js';
import { moveToAsync, predictOnDevice } from '../src/train/device.js';

core.registerBackend(jsBackend);
core.registerBackend(wasmBackend);
core.registerBackend(webgpuBackend);
const nb = { ...core, initWebGPU, webgpuSync, fitAsync, data: { TensorDataset, DataLoader } };

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
const model = opt('--model', 'mlp');
const device = opt('--device', 'webgpu');
const samples = Number(opt('--samples', '60000'));
const batch = Number(opt('--batch', model === 'cnn' ? '32' : '64'));
const inferBatches = Number(opt('--infer-batches', '50'));
const epochs = Number(opt('--epochs', '1'));

async function main(): Promise<void> {
  let adapter = 'cpu';
  if (device === 'webgpu') {
    const av = await nb.initWebGPU();
    if (!av.ok) {
      console.error(`webgpu unavailable: ${av.reason}`);
      process.exit(2);
    }
    adapter = av.reason;
  }
  const g = new nb.Generator(1);
  const X = nb.rand([samples, 1, 28, 28], { generator: g });
  const Y = nb.randint(0, 10, [samples], { generator: g });
  const ds = new nb.data.TensorDataset(model === 'cnn' ? X : X.reshape([samples, 784]), Y);
  nb.manualSeed(0);
  const m = model === 'cnn' ? cnn() : mlp();
  m.to(device);
  const optimizer = new nb.optim.Adam(m.parameters(), { lr: 1e-3 });
  const loss = (o: core.Tensor, y: core.Tensor) => nb.F.crossEntropy(o, y);
  // Warm-up: compile every pipeline of a step (and of the readback) before timing.
  const warm = new nb.data.DataLoader(new nb.data.TensorDataset(...ds.tensors.map((t) => t.slice(0, 0, batch * 3))), { batchSize: batch });
  await nb.fitAsync(m, warm, { epochs: 1, optimizer, loss, metrics: false, log: () => {} });
  const loader = new nb.data.DataLoader(ds, { batchSize: batch, shuffle: true, generator: new nb.Generator(2) });
  const t0 = performance.now();
  const h = await nb.fitAsync(m, loader, { epochs, optimizer, loss, log: () => {} });
  await nb.webgpuSync();
  const trainSeconds = (performance.now() - t0) / 1000 / epochs;

  // Inference, batch 256: forward of each batch recorded, all logits read back together.
  const xs = Array.from({ length: inferBatches }, (_, i) => ds.tensors[0]!.slice(0, (i * 256) % Math.max(1, samples - 256), ((i * 256) % Math.max(1, samples - 256)) + 256));
  await predictOnDevice(m, xs.slice(0, 2), device); // warm-up
  const t1 = performance.now();
  const outs = await predictOnDevice(m, xs, device);
  const inferSeconds = (performance.now() - t1) / 1000;
  if (outs.length !== inferBatches || outs[0]!.shape[0] !== 256) throw new Error('inference returned the wrong shape');
  if (device !== 'cpu') await moveToAsync(m, 'cpu');
  console.log(JSON.stringify({
    bench: 'webgpu-train', model, device, adapter, samples, batch, epochs,
    epochSeconds: trainSeconds, trainSamplesPerSecond: samples / trainSeconds, finalLoss: h.epochs.at(-1)?.loss,
    inferBatch: 256, inferBatches, inferSamplesPerSecond: (256 * inferBatches) / inferSeconds, inferMsPerBatch: (inferSeconds * 1000) / inferBatches,
  }));
}

await main();
process.exit(0); // Dawn's threads would keep the process alive
