#!/usr/bin/env bash
# Runs the webgpu benchmarks on a lent GPU machine (the `device` tool), beside PyTorch CUDA: the
# sgemm kernel, then one training epoch of the mlp and cnn reference models (Fashion-MNIST-shaped
# data: 60,000 × 1×28×28) and their batch-256 inference on --device webgpu.
# That machine has the NVIDIA driver with its Vulkan ICD but no Node and no Vulkan loader, so
# everything else travels in the git-ignored .gpu/ folder (recipe: shared/GPU.md):
#   scripts/gpu-device-run.sh prepare    here: build .gpu/ (node.xz, nm/, debs/, dist/), ~35 MB
#   scripts/gpu-device-run.sh device     there: unpack, then run bench/webgpu-sgemm, bench/webgpu-train and torch
# Device tool call: command "bash scripts/gpu-device-run.sh device", carry [".gpu"]; results are
# written under $OUT (webgpu-sgemm.json, torch-sgemm.json, webgpu-train.jsonl, torch-train.jsonl,
# log.txt). Give it timeout_s 540: the whole run is a few minutes on an H100/H200.
# Options for `device` (environment): SIZES (default 1024,2048,4096), REPS (10), ROUNDS (5),
# SAMPLES (60000, the epoch's size), MODELS (mlp,cnn).
set -euo pipefail
cd "$(dirname "$0")/.."
G=.gpu

prepare() {
  [ -f dist/bench/webgpu-sgemm.js ] || { echo "build first: npm run build" >&2; exit 1; }
  [ -f node_modules/webgpu/dist/linux-x64/dawn.node ] || { echo "node_modules/webgpu missing: npm ci" >&2; exit 1; }
  rm -rf "$G" && mkdir -p "$G/nm" "$G/debs" "$G/dist"
  echo "node $(node --version) → $G/node.xz"
  xz -T2 -6 -c "$(command -v node)" > "$G/node.xz"
  # The webgpu package with only the linux-x64 addon (compressed), and its dependencies.
  cp -r node_modules/webgpu "$G/nm/webgpu"
  find "$G/nm/webgpu/dist" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
  xz -T2 -6 "$G/nm/webgpu/dist/linux-x64/dawn.node"
  for dep in debug ms @webgpu/types; do
    if [ -d "node_modules/$dep" ]; then mkdir -p "$G/nm/$(dirname "$dep")"; cp -r "node_modules/$dep" "$G/nm/$dep"; fi
  done
  # Vulkan loader and the GL vendor-neutral libraries the NVIDIA ICD needs.
  (cd "$G/debs" && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
  cp -r dist/src dist/bench "$G/dist/"
  # Self-check: the carried tree alone (no other node_modules) must run the training bench.
  local t; t=$(mktemp -d)
  cp -r "$G/dist" "$t/dist" && mkdir -p "$t/node_modules" && cp -r "$G"/nm/* "$t/node_modules/" && cp package.json "$t/"
  xz -dc "$G/nm/webgpu/dist/linux-x64/dawn.node.xz" > "$t/node_modules/webgpu/dist/linux-x64/dawn.node"
  (cd "$t" && node dist/bench/webgpu-train.js --model mlp --device cpu --samples 256 --infer-batches 2 >/dev/null) \
    || { echo "self-check failed: the carried tree cannot run bench/webgpu-train" >&2; exit 1; }
  rm -rf "$t"
  du -sh "$G"
}

device() {
  OUTDIR=${OUT:-/tmp/out}
  mkdir -p "$OUTDIR"
  exec > >(tee "$OUTDIR/log.txt") 2>&1
  for f in "$G"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
  export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json} \
    __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json} \
    LD_LIBRARY_PATH=/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
  xz -dc "$G/node.xz" > /tmp/node && chmod +x /tmp/node
  mkdir -p node_modules && cp -r "$G"/nm/* node_modules/
  xz -d -f node_modules/webgpu/dist/linux-x64/dawn.node.xz
  rm -rf dist && cp -r "$G/dist" dist
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv || true
  local sizes=${SIZES:-1024,2048,4096}
  /tmp/node dist/bench/webgpu-sgemm.js --sizes "$sizes" --reps "${REPS:-10}" --rounds "${ROUNDS:-5}" | tee "$OUTDIR/webgpu-sgemm.txt"
  tail -n1 "$OUTDIR/webgpu-sgemm.txt" > "$OUTDIR/webgpu-sgemm.json"
  # The same products in PyTorch CUDA, fp32 with TF32 off (cuBLAS's true fp32), same timing rule.
  SIZES="$sizes" REPS="${REPS:-10}" ROUNDS="${ROUNDS:-5}" python3 - <<'PY' | tee "$OUTDIR/torch-sgemm.json"
import json, os, statistics, time, torch
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
reps, rounds = int(os.environ["REPS"]), int(os.environ["ROUNDS"])
rows = []
for n in map(int, os.environ["SIZES"].split(",")):
    a = torch.rand(n, n, device="cuda") * 2 - 1
    b = torch.rand(n, n, device="cuda") * 2 - 1
    t0 = time.perf_counter()
    i = 0
    while i < 3 or time.perf_counter() - t0 < 0.5:
        torch.matmul(a, b); torch.cuda.synchronize(); i += 1
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) / reps)
    rows.append({"n": n, "gflopsBest": 2 * n**3 / min(times) / 1e9, "gflopsMedian": 2 * n**3 / statistics.median(times) / 1e9})
print(json.dumps({"bench": "torch-sgemm", "torch": torch.__version__, "device": torch.cuda.get_device_name(), "tf32": False, "rows": rows}))
PY
  # One training epoch and batch-256 inference of the reference models on the device.
  local samples=${SAMPLES:-60000}
  for m in ${MODELS:-mlp cnn}; do
    /tmp/node dist/bench/webgpu-train.js --model "$m" --device webgpu --samples "$samples" 2>&1 | grep -v '^Warning:' | tee -a "$OUTDIR/webgpu-train.jsonl"
  done
  # The same models, batch sizes, optimiser and epoch in PyTorch CUDA (fp32, TF32 off).
  SAMPLES="$samples" MODELS="${MODELS:-mlp cnn}" python3 - <<'PY' | tee "$OUTDIR/torch-train.jsonl"
import json, os, time, torch
from torch import nn
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"
n = int(os.environ["SAMPLES"])
def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))
def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 3 * 3, 64), nn.ReLU(), nn.Linear(64, 10))
g = torch.Generator().manual_seed(1)
X = torch.rand(n, 1, 28, 28, generator=g)
Y = torch.randint(0, 10, (n,), generator=g)
for name in os.environ["MODELS"].split():
    bs = 32 if name == "cnn" else 64
    torch.manual_seed(0)
    model = (cnn() if name == "cnn" else mlp()).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()
    def epoch(limit=None):
        perm = torch.randperm(n)
        steps = 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            x, y = X[idx].to(dev, non_blocking=True), Y[idx].to(dev, non_blocking=True)
            opt.zero_grad()
            loss = lossf(model(x), y)
            loss.backward()
            opt.step()
            steps += 1
            if limit and steps >= limit:
                break
        torch.cuda.synchronize()
        return loss.item()
    epoch(limit=20)  # warm-up
    t = time.perf_counter(); last = epoch(); sec = time.perf_counter() - t
    model.eval()
    xs = [X[(i * 256) % (n - 256):(i * 256) % (n - 256) + 256].to(dev) for i in range(50)]
    with torch.no_grad():
        for x in xs[:2]: model(x).cpu()
        torch.cuda.synchronize()
        t = time.perf_counter(); outs = [model(x) for x in xs]; [o.cpu() for o in outs]; inf = time.perf_counter() - t
    print(json.dumps({"bench": "torch-train", "model": name, "torch": torch.__version__, "device": torch.cuda.get_device_name(), "samples": n, "batch": bs,
                      "epochSeconds": sec, "trainSamplesPerSecond": n / sec, "finalLoss": last, "inferBatch": 256, "inferSamplesPerSecond": 256 * 50 / inf, "inferMsPerBatch": inf * 1000 / 50}))
PY
}

case "${1:-}" in
  prepare) prepare ;;
  device) device ;;
  *) echo "usage: $0 prepare|device" >&2; exit 2 ;;
esac
