#!/usr/bin/env bash
# The README's "Watching a run" figure: `ddm info RUN_DIR` and its curves.png, on a run
# folder assembled from the shipped model's files (configs/fmnist.ini as config.ini,
# models/fmnist-metrics.jsonl as metrics.jsonl, models/fmnist-ema.h5 as its checkpoint):
# what a user sees on the run that made it. Writes docs/curves-fmnist.png and the README's
# section between its runinfo markers.
#   usage: scripts/runinfo_readme.sh     env: README=README.md (README= : do not touch it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
README=${README-$ROOT/README.md}
RUN=$(mktemp -d /tmp/ddm-runinfo.XXXXXX)/fmnist
trap 'rm -rf "$(dirname "$RUN")"' EXIT
mkdir -p "$RUN"
cp configs/fmnist.ini "$RUN/config.ini"
cp models/fmnist-metrics.jsonl "$RUN/metrics.jsonl"
ln -s "$ROOT/models/fmnist-ema.h5" "$RUN/ckpt-00005500.h5"
out=$(bin/ddm info "$RUN" | sed "s#$(dirname "$RUN")/##g")
cp "$RUN/curves.png" docs/curves-fmnist.png
echo "$out"
if [ -n "$README" ]; then
    { printf '```\n$ ddm info fmnist\n%s\n```\n\n' "$out"
      echo "![training curves of the shipped model: loss by timestep quartile, learning rate, images/s](docs/curves-fmnist.png)"
    } | /usr/bin/python3 scripts/readme_section.py "$README" runinfo -
fi
