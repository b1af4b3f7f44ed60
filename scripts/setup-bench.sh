#!/usr/bin/env bash
# System packages used by benchmarks and fixture generation (never needed at run time):
# PyTorch on CPU with a threaded OpenBLAS, and the full Fashion-MNIST as IDX files.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update
$SUDO apt-get install -y python3-torch python3-numpy libopenblas0-pthread dataset-fashion-mnist
