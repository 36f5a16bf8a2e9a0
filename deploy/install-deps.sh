#!/bin/sh
# Installs every Debian package metasac needs. Idempotent: does nothing when all are present.
# Usage: deploy/install-deps.sh [--dev] [--fuzz]
#   --dev  adds python3-torch for tests/ref/make_ref.py
#   --fuzz adds clang-14 and libFuzzer for `make fuzz` (not in the default list CI installs)
set -eu
pkgs="build-essential pkg-config libopenblas-dev libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
      libmujoco-dev libcriterion-dev libinih-dev zlib1g-dev libmicrohttpd-dev gnuplot-nox
      python3-numpy libegl-dev libgl1-mesa-dri ffmpeg"
for opt in "$@"; do
    case "$opt" in
    --dev) pkgs="$pkgs python3-torch" ;;
    --fuzz) pkgs="$pkgs clang-14 libfuzzer-14-dev" ;;
    *) echo "install-deps: unknown option $opt (--dev, --fuzz)" >&2; exit 2 ;;
    esac
done
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: not root; run: sudo apt-get install -y$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
