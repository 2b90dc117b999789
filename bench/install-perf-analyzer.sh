#!/usr/bin/env bash
# Installs Triton's perf_analyzer into DEST (bin/perf_analyzer, with its libraries in lib/), using
# PYTHON's pip and the pins in bench/perf-analyzer.txt (which says why this version and these libraries).
# Usage: bench/install-perf-analyzer.sh DEST PYTHON
set -euo pipefail
dest=${1:?destination folder}
python=${2:?python with pip}
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$dest"
"$python" -m pip install --disable-pip-version-check -q --no-deps --target "$dest" -r "$here/perf-analyzer.txt"
mkdir -p "$dest/lib"
ln -sf ../nvidia/cuda_runtime/lib/libcudart.so.12 "$dest/lib/libcudart.so.12"

# libb64 comes from Debian's package, unpacked here rather than installed on the machine.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
download() { (cd "$work" && apt-get download -q -o APT::Sandbox::User=root libb64-0d >/dev/null); }
download || { apt-get update -qq && download; }
dpkg-deb -x "$work"/libb64-0d_*.deb "$work/root"
cp -P "$work"/root/usr/lib/*/libb64.so.0d* "$dest/lib/"

LD_LIBRARY_PATH="$dest/lib" "$dest/bin/perf_analyzer" --version
