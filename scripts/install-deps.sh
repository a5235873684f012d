#!/bin/sh
# Installs the Debian packages plateau needs, and nothing when all are present.
# Idempotent: prints what it installs; silent apart from one line otherwise.
# Called by `make run` and `make test`, so a fresh machine needs no other set-up.
set -eu

# Build and run: compiler, BLAS and oneDNN (OpenMP flavours, sharing the thread
# pool with plateau's own OpenMP loops), JSON, INI, tests, results store,
# statistics (GSL), plots, data, compressed corpora (.gz, .zst), MPI for training
# over several processes or hosts (and iproute2 for the test that joins two
# network namespaces as two hosts). clang, its sanitizer and libFuzzer runtimes
# and its OpenMP runtime build `make test SANITIZE=1` and `make fuzz`.
PACKAGES="gcc libc6-dev make pkg-config libopenblas-openmp-dev libdnnl-dev libcjson-dev libinih-dev \
libcmocka-dev libsqlite3-dev libgsl-dev gnuplot-nox wordnet-base zlib1g-dev libzstd-dev libopenmpi-dev openmpi-bin iproute2 \
clang libclang-rt-14-dev libomp-dev"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

# The interop tests (tests/interop/run.sh, run by .ci/run) need node 18+ with
# npm; a node installed some other way (e.g. NodeSource's nodejs, which
# bundles npm) is kept as it is.
if ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi

if [ -z "$missing" ]; then
    echo "deps: all present"
    exit 0
fi

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "deps: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
echo "deps: done"
