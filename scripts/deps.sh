#!/usr/bin/env bash
# Install the Debian packages ddm needs (build, tests, demo) when any is missing.
#   scripts/deps.sh           install what is missing, saying what
#   scripts/deps.sh --quiet   the same, silent when nothing is missing
#   scripts/deps.sh --check   only report; exit 1 when something is missing
set -euo pipefail
BUILD="make pkg-config gcc libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
       libscalapack-openmpi-dev libopenblas-dev libpng-dev zlib1g-dev"
TEST="python3 python3-torch python3-scipy python3-h5py python3-numpy python3-pil dataset-fashion-mnist
      gnuplot-nox slurm-wlm munge procps iproute2"
mode=${1:-}
missing=()
for p in $BUILD $TEST; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    [ "$mode" = "--quiet" ] || echo "deps: every package is installed"
    exit 0
fi
echo "deps: missing Debian packages: ${missing[*]}"
[ "$mode" = "--check" ] && exit 1
SUDO=
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
        echo "deps: not root and no sudo: install them by hand (apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/ddm-deps.log 2>&1 || {
    echo "deps: apt-get install failed; the log is /tmp/ddm-deps.log" >&2
    tail -20 /tmp/ddm-deps.log >&2
    exit 1
}
echo "deps: installed ${missing[*]}"
