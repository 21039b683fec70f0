#!/usr/bin/env bash
# The README's walk-through block (after <!-- readme-session -->) runs as written, with
# bin/ on PATH, from a folder holding configs/. (make demo runs the demo; tests/t_slurm.sh
# runs slurm/pipeline.sh.)
# It runs from an installed tree, as an HPC site would have it (issue 16): 'make install'
# into a temporary prefix, then the session with only PREFIX/bin on PATH (what the Lmod
# modulefile adds) and the installed configs.
source "$(dirname "$0")/lib.sh"
P=$TMP/prefix
check "make install PREFIX=\$TMP/prefix" make -s -C "$ROOT" install PREFIX="$P"
for f in bin/ddm share/ddm/slurm/pipeline.sh share/ddm/slurm/train.sbatch share/ddm/configs/fmnist.ini \
         share/ddm/models/fmnist-ema.h5 share/ddm/README.md share/ddm/docs/guidance.png \
         share/modulefiles/ddm/0.1.0.lua; do
    [ -s "$P/$f" ] || fail "installed: $f missing"
done
check "the modulefile names the prefix and puts bin on PATH" grep -q "local root = \"$P\"" "$P/share/modulefiles/ddm/0.1.0.lua"
check "make install DESTDIR=stage puts the same tree under stage" bash -c "
    make -s -C '$ROOT' install PREFIX=/opt/ddm DESTDIR='$TMP/stage' && test -x '$TMP/stage/opt/ddm/bin/ddm' &&
    grep -q 'local root = \"/opt/ddm\"' '$TMP/stage/opt/ddm/share/modulefiles/ddm/0.1.0.lua'"
check "the installed pipeline.sh finds the installed ddm on PATH" bash -c "
    PATH='$P/bin:/usr/bin:/bin' DDM= '$P/share/ddm/slurm/pipeline.sh' --help 2>&1 | grep -q pipeline"
export PATH="$P/bin:$PATH" OMP_NUM_THREADS=1
mkdir -p "$TMP/w" && ln -s "$P/share/ddm/configs" "$TMP/w/configs"
cd "$TMP/w"
n=0
while IFS= read -r line; do
    [ -z "$line" ] && continue
    n=$((n + 1))
    # mpirun as root here needs the flags tests/lib.sh exports as OMPI_* variables
    check "README command $n: $line" bash -c "$line < /dev/null"
done < <(awk '/<!-- readme-session -->/ {f=1; next} f && /^```sh/ {g=1; next} g && /^```/ {exit} g' "$ROOT/README.md")
check "the block had its 8 commands" test "$n" -eq 8
check "the session ran the installed binary" test "$(command -v ddm)" = "$P/bin/ddm"
check "samples.h5 is complete" bash -c "ddm info samples.h5 | grep -q '64 of 64'"
check "results line written" test -s results.jsonl
check "64 PNGs exported" test "$(ls pngs | wc -l)" -eq 64
summary
