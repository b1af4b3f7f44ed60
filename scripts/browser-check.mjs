#!/usr/bin/env node
// Runs the browser entry (dist/src/browser.js) in headless Chromium, as a page would: serves the
// repository on 127.0.0.1, opens a page that calls initWasm(), trains a small MLP on the wasm
// backend, times a 512×512 matmul and checks it against the js backend, then posts its findings
// back here. Twice: once cross-origin isolated (COOP/COEP headers: shared memory, worker threads)
// and once not (one thread on the unshared build). Prints one JSON line per mode; exits 1 if a
// mode fails. Needs `npm run build` and Debian's chromium (scripts/setup-bench.sh installs it).
// A third mode trains the same MLP with the model on 'webgpu' (navigator.gpu, Chromium's Dawn;
// flags that let headless Chromium expose WebGPU without a GPU: Vulkan through Mesa's llvmpipe,
// else SwiftShader) and compares its losses with the wasm run's. It passes, or fails naming what
// navigator.gpu answered; --no-webgpu leaves it out.
//   node scripts/browser-check.mjs [--chromium /usr/bin/chromium] [--timeout 120] [--no-webgpu]

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (flag, dflt) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : dflt);
const chromium = opt('--chromium', '/usr/bin/chromium');
const timeoutMs = Number(opt('--timeout', '120')) * 1000;

const WEBGPU_PAGE = `<!doctype html><meta charset="utf-8"><title>nabla webgpu check</title>
<script type="module">
const report = (r) => fetch('/result', { method: 'POST', body: JSON.stringify(r) });
try {
  const nb = await import('/dist/src/browser.js');
  if (!navigator.gpu) throw new Error('navigator.gpu is undefined (WebGPU not exposed by this Chromium)');
  const av = await nb.initWebGPU();
  if (!av.ok) throw new Error('initWebGPU: ' + av.reason);
  await nb.initWasm();
  const run = async (device) => {
    nb.manualSeed(0);
    const model = new nb.nn.Sequential(new nb.nn.Linear(256, 128), new nb.nn.ReLU(), new nb.nn.Linear(128, 10));
    model.to(device);
    const opt = new nb.optim.Adam(model.parameters(), { lr: 1e-2 });
    const g = new nb.Generator(5);
    const x = nb.randn([128, 256], { generator: g }).to(device), y = nb.randint(0, 10, [128], { generator: g }).to(device);
    const losses = [];
    for (let i = 0; i < 30; i++) {
      opt.zeroGrad();
      const loss = nb.F.crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      losses.push(loss.detach().itemAsync()); // read back later, without stalling the device
    }
    return Promise.all(losses);
  };
  const t = performance.now();
  const gpu = await run('webgpu');
  const gpuMs = performance.now() - t;
  const cpu = await run('cpu');
  let maxDiff = 0;
  for (let i = 0; i < cpu.length; i++) maxDiff = Math.max(maxDiff, Math.abs(gpu[i] - cpu[i]) / Math.max(1, Math.abs(cpu[i])));
  report({ ok: true, adapter: av.reason, firstLoss: gpu[0], lastLoss: gpu[gpu.length - 1], lossMaxRelDiffVsCpu: maxDiff, trainMs: gpuMs, userAgent: navigator.userAgent });
} catch (e) {
  report({ ok: false, error: String(e && e.stack || e) });
}
</script>`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>nabla browser check</title>
<script type="module">
const report = (r) => fetch('/result', { method: 'POST', body: JSON.stringify(r) });
try {
  const nb = await import('/dist/src/browser.js');
  const init = await nb.initWasm();
  nb.manualSeed(0);
  const model = new nb.nn.Sequential(new nb.nn.Linear(256, 128), new nb.nn.ReLU(), new nb.nn.Linear(128, 10));
  const opt = new nb.optim.Adam(model.parameters(), { lr: 1e-2 });
  const x = nb.randn([128, 256]), y = nb.randint(0, 10, [128]);
  const losses = [];
  for (let i = 0; i < 30; i++) {
    opt.zeroGrad();
    const loss = nb.F.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    losses.push(loss.item());
  }
  const readyThreads = await nb.wasmPoolReady();
  const a = nb.randn([512, 512]), b = nb.randn([512, 512]);
  // Warm-up: the engine compiles wasm with its baseline tier first and optimises hot functions later.
  for (let i = 0; i < 30; i++) nb.matmul(a, b);
  const t = performance.now();
  const reps = 20;
  let c;
  for (let i = 0; i < reps; i++) c = nb.matmul(a, b);
  const ms = (performance.now() - t) / reps;
  const onWasm = c.toTypedArray();
  nb.setBackend('js');
  const onJs = nb.matmul(a, b).toTypedArray();
  let maxDiff = 0;
  for (let i = 0; i < onJs.length; i++) maxDiff = Math.max(maxDiff, Math.abs(onJs[i] - onWasm[i]));
  report({ ok: true, crossOriginIsolated: self.crossOriginIsolated, ...init, readyThreads, cores: navigator.hardwareConcurrency, firstLoss: losses[0], lastLoss: losses[losses.length - 1],
    matmul512Ms: ms, matmul512Gflops: (2 * 512 ** 3) / ms / 1e6, matmulMaxDiffVsJs: maxDiff, userAgent: navigator.userAgent });
} catch (e) {
  report({ ok: false, error: String(e && e.stack || e) });
}
</script>`;

const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.map': 'application/json' };

let lastStderr = () => '';

/** Serves the page and the repository's dist/; resolves with the page's report. */
function runMode(isolated, page = PAGE, flags = ['--disable-gpu'], profile = isolated ? 'iso' : 'plain') {
  return new Promise((resolvePromise, reject) => {
    let browser;
    const timer = setTimeout(() => finish(new Error(`no report from the page within ${timeoutMs / 1000} s`)), timeoutMs);
    const finish = (err, result) => {
      clearTimeout(timer);
      browser?.kill('SIGKILL');
      server.close();
      if (err) reject(err);
      else resolvePromise(result);
    };
    const server = createServer(async (req, res) => {
      const headers = isolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
      const path = new URL(req.url, 'http://x').pathname;
      if (req.method === 'POST' && path === '/result') {
        let body = '';
        for await (const chunk of req) body += chunk;
        res.writeHead(204).end();
        finish(null, JSON.parse(body));
        return;
      }
      if (path === '/') {
        res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(page);
        return;
      }
      const file = normalize(join(root, path));
      if (!file.startsWith(join(root, 'dist') + '/')) {
        res.writeHead(404).end();
        return;
      }
      try {
        const body = await readFile(file);
        res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    server.listen(0, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}/`;
      browser = spawn(chromium, ['--headless=new', '--no-sandbox', ...flags, '--no-first-run', '--user-data-dir=' + join(root, '.chromium-profile-' + profile), url], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      browser.stderr.on('data', (d) => { stderr += d; });
      browser.on('error', (e) => finish(new Error(`could not start ${chromium}: ${e.message} (install Debian's chromium: scripts/setup-bench.sh)`)));
      browser.on('exit', (code) => { if (code) finish(new Error(`chromium exited with ${code}: ${stderr.slice(-1000)}`)); });
      lastStderr = () => stderr;
    });
  });
}

let failed = false;
for (const isolated of [true, false]) {
  try {
    const r = await runMode(isolated);
    // Isolated: a thread per core, all of them running (workers started); otherwise one.
    const expectThreads = isolated ? r.threads === Math.min(r.cores, 32) && r.readyThreads === r.threads : r.threads === 1 && r.readyThreads === 1;
    const ok = r.ok && r.backend === 'wasm' && r.sharedMemory === isolated && expectThreads && r.lastLoss < r.firstLoss * 0.5 && r.matmulMaxDiffVsJs < 1e-3;
    console.log(JSON.stringify({ mode: isolated ? 'cross-origin isolated' : 'not isolated', pass: ok, ...r }));
    if (!ok) failed = true;
  } catch (e) {
    console.log(JSON.stringify({ mode: isolated ? 'cross-origin isolated' : 'not isolated', pass: false, error: e.message }));
    failed = true;
  }
}
// WebGPU in headless Chromium: first through Vulkan (Mesa's llvmpipe here, the GPU's driver
// elsewhere), then SwiftShader's Vulkan. The first flag set that yields an adapter decides.
const WEBGPU_FLAGS = [
  ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=vulkan', '--ignore-gpu-blocklist'],
  ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--ignore-gpu-blocklist'],
];
if (!args.includes('--no-webgpu')) {
  const tries = [];
  let result = null;
  for (const flags of WEBGPU_FLAGS) {
    try {
      const r = await runMode(false, WEBGPU_PAGE, flags, 'webgpu');
      tries.push({ flags: flags.join(' '), ok: r.ok, ...(r.ok ? {} : { error: r.error.split('\n')[0], chromiumStderr: lastStderr().split('\n').filter((l) => /gpu|vulkan|webgpu|dawn/i.test(l)).slice(-5) }) });
      if (r.ok) {
        result = r;
        break;
      }
    } catch (e) {
      tries.push({ flags: flags.join(' '), ok: false, error: e.message, chromiumStderr: lastStderr().split('\n').filter((l) => /gpu|vulkan|webgpu|dawn/i.test(l)).slice(-5) });
    }
  }
  // The device trains the MLP: losses fall and follow the CPU run's (float32 rounding apart).
  const ok = result !== null && result.lastLoss < result.firstLoss * 0.5 && result.lossMaxRelDiffVsCpu < 1e-3;
  console.log(JSON.stringify({ mode: 'webgpu', pass: ok, ...(result ?? {}), tries }));
  if (!ok) failed = true;
}
process.exitCode = failed ? 1 : 0;
