#!/usr/bin/env bash
# Peers and data for `npm run bench` and fixture generation (never needed at run time):
# PyTorch on CPU with a threaded OpenBLAS, the full Fashion-MNIST as IDX files (Debian packages),
# TensorFlow.js with its wasm backend (npm devDependencies of this repo), and Chromium for
# scripts/browser-check.mjs (the browser entry in a real page).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update
$SUDO apt-get install -y python3-torch python3-numpy libopenblas0-pthread dataset-fashion-mnist chromium
# TF.js is a devDependency: a checkout installed with `npm ci` already has it.
if ! node -e "require.resolve('@tensorflow/tfjs'); require.resolve('@tensorflow/tfjs-backend-wasm')" 2>/dev/null; then
  npm ci
fi
# What the bench will find.
/usr/bin/python3 -c "import torch; print('PyTorch', torch.__version__)"
echo "BLAS: $(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu 2>/dev/null || echo unknown)"
node -e "console.log('TF.js', require('@tensorflow/tfjs/package.json').version)"
ls /usr/share/datasets/fashion-mnist
chromium --version
