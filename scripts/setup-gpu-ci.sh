#!/usr/bin/env bash
# Makes the webgpu tests runnable on a CPU-only Debian bookworm machine (CI): Dawn (npm `webgpu`)
# needs a Vulkan driver; Mesa's llvmpipe runs Vulkan on the CPU, but bookworm's Mesa 22.3 is
# refused by Dawn ("shaderUniform*ArrayDynamicIndexing required"), so Mesa >= 24 comes from
# bookworm-backports (25.0 there). Idempotent and quick when the driver is already installed.
# Then probes for an adapter: under CI=true a missing adapter fails the run, so the webgpu tests
# cannot skip silently. Needs root (or sudo) only when something must be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_major=24
installed_major() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  v=${v#*:}            # drop an epoch
  echo "${v%%.*}"
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup-gpu-ci: '$*' needs root" >&2; return 1
  fi
}

have=$(installed_major)
if [ -n "$have" ] && [ "$have" -ge "$want_major" ] 2>/dev/null; then
  echo "setup-gpu-ci: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) already installed"
else
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  if [ "$codename" != bookworm ] || ! command -v apt-get >/dev/null; then
    echo "setup-gpu-ci: not Debian bookworm ('${codename:-unknown}'): install a Vulkan driver Dawn accepts (Mesa >= $want_major llvmpipe, or a GPU's) yourself" >&2
  else
    if ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      # The mirror apt already uses (deb822 .sources first, then a one-line sources.list).
      mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
      [ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1 || true)
      [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
      echo "setup-gpu-ci: adding bookworm-backports from $mirror"
      echo "deb $mirror bookworm-backports main" | as_root tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
    fi
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers
  fi
fi

# The probe uses the built backend (npm ci builds it) so the reason printed is the one users see.
probe='import("./dist/src/backend/webgpu/index.js").then(async (m) => {
  const h = await m.acquireWebGPU();
  console.log(`setup-gpu-ci: webgpu ${h ? "available" : "unavailable"}: ${m.webgpuAvailable().reason}`);
  process.exit(h ? 0 : 1);
}).catch((e) => { console.log(`setup-gpu-ci: webgpu probe failed: ${e.message}`); process.exit(1); });'
if [ -f dist/src/backend/webgpu/index.js ]; then
  # Dawn's notes on limits it lowers go to stderr; they are not errors.
  if ! node --input-type=module -e "$probe" 2> >(grep -v 'artificially reduced' >&2); then
    if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
      echo "setup-gpu-ci: CI must run the webgpu kernel tests, and no adapter was found" >&2
      exit 1
    fi
    echo "setup-gpu-ci: the webgpu tests will skip on this machine" >&2
  fi
else
  echo "setup-gpu-ci: dist/ not built yet; the adapter probe runs after the build (npm run build)"
fi
