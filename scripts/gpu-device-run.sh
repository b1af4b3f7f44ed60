#!/usr/bin/env bash
# Runs the webgpu sgemm benchmark on a lent GPU machine (the `device` tool), beside PyTorch CUDA.
# That machine has the NVIDIA driver with its Vulkan ICD but no Node and no Vulkan loader, so
# everything else travels in the git-ignored .gpu/ folder (recipe: shared/GPU.md):
#   scripts/gpu-device-run.sh prepare    here: build .gpu/ (node.xz, nm/, debs/, dist/), ~35 MB
#   scripts/gpu-device-run.sh device     there: unpack, then run bench/webgpu-sgemm and torch
# Device tool call: command "bash scripts/gpu-device-run.sh device", carry [".gpu"]; results are
# written under $OUT (webgpu-sgemm.json, torch-sgemm.json, log.txt).
# Options for `device` (environment): SIZES (default 1024,2048,4096), REPS (10), ROUNDS (5).
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
}

case "${1:-}" in
  prepare) prepare ;;
  device) device ;;
  *) echo "usage: $0 prepare|device" >&2; exit 2 ;;
esac
