#!/usr/bin/env bash
# The dependency list stays whole (issue 16: the tests imported PIL, which scripts/deps.sh
# did not install, and a fresh machine's `make test` failed): every Python module the
# tests, scripts, benchmark and CI import, and every command they run, comes from a Debian
# package that scripts/deps.sh names or one those depend on (apt-cache depends --recurse,
# Depends only, as deps.sh installs without recommends), or from an Essential package.
# Found with dpkg on this machine. The checker is run once more on the list without
# python3-pil, where it must name PIL (so it can fail).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
command -v apt-cache >/dev/null && command -v dpkg >/dev/null || { ok "no dpkg/apt-cache here: skipped"; summary; exit 0; }

# the packages scripts/deps.sh names: its BUILD and TEST lists
named=$(awk '/^BUILD=/ {f=1} /^mode=/ {f=0} f' scripts/deps.sh | sed 's/^[A-Z]*="//; s/"//g')
check "scripts/deps.sh names its packages (BUILD, TEST)" test "$(echo $named | wc -w)" -gt 10

PKG_OF=$TMP/pkg_of.tsv # origin path -> package, once
pkg_of() {
    local f=$1 p
    p=$(grep -m1 -F "$f	" "$PKG_OF" 2>/dev/null | cut -f2)
    if [ -z "$p" ]; then
        p=$(dpkg -S "$f" 2>/dev/null | head -1 | cut -d: -f1)
        [ -z "$p" ] && p=$(dpkg -S "$(readlink -f "$f")" 2>/dev/null | head -1 | cut -d: -f1)
        [ -z "$p" ] && p=$(dpkg -S "${f#/usr}" 2>/dev/null | head -1 | cut -d: -f1) # usrmerge: /bin/ss
        printf '%s\t%s\n' "$f" "${p:--}" >>"$PKG_OF"
    fi
    [ "$p" = "-" ] && p=""
    echo "$p"
}

# What the files import or run, with the package each comes from: "kind name package".
# Python modules by /usr/bin/python3's import machinery (the tests' $PYTHON); commands
# as words of the shell files that PATH resolves to a file under /usr or /bin.
{
    grep -rhoE '^[[:space:]]*(import|from)[[:space:]]+[A-Za-z_][A-Za-z0-9_]*' tests scripts bench .ci 2>/dev/null |
        awk '{print $2}' | sort -u | while read -r m; do
        f=$(/usr/bin/python3 -c "import importlib.util as u; s=u.find_spec('$m'); print(s.origin if s and s.origin else '')" 2>/dev/null)
        case "$f" in /usr/*) echo "module $m $(pkg_of "$f")" ;; esac
    done
    # words in command position (line start, after | ; & ( ` ! or if/then/do/else/exec/
    # time/while/until, or after a quoted argument: check "what" CMD ...), without comments, here-documents (Python, INI), arithmetic $((..)),
    # assignments and the files' own shell functions
    "$PYTHON" - tests/*.sh tests/slurm/*.sh scripts/*.sh slurm/*.sh slurm/*.sbatch .ci/run <<'PY' |
import re, sys
words, funcs = set(), set()
pos = re.compile(r"(?:^|[|;&`!]|\"(?=\s)|(?<!\()\((?!\()|\b(?:if|then|do|else|exec|time|while|until)\b)\s*([a-z][a-z0-9._+-]*)(?=\s|$)(?!\s*=)")
for path in sys.argv[1:]:
    try:
        lines = open(path).read().split("\n")
    except OSError:
        continue
    end = None
    for line in lines:
        if end is not None:
            if line.strip() == end:
                end = None
            continue
        m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
        if m:
            end = m.group(1)
        line = re.sub(r"(^|\s)#.*$", "", line)
        funcs.update(re.findall(r"^\s*([a-z_][a-z0-9_]*)\s*\(\)", line))
        words.update(pos.findall(line))
print("\n".join(sorted(words - funcs)))
PY
        while read -r w; do
        f=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v "$w" 2>/dev/null)
        case "$f" in /usr/*|/bin/*|/sbin/*) echo "command $w $(pkg_of "$f")" ;; esac
    done
} | awk 'NF == 3' | sort -u >"$TMP/used.txt"
check "found the modules and commands in use (numpy, h5py, PIL, mpirun, h5diff, sbatch)" bash -c "
grep -q '^module numpy ' '$TMP/used.txt' && grep -q '^module h5py ' '$TMP/used.txt' && grep -q '^module PIL ' '$TMP/used.txt' &&
grep -q '^command mpirun ' '$TMP/used.txt' && grep -q '^command h5diff ' '$TMP/used.txt' && grep -q '^command sbatch ' '$TMP/used.txt'"

# Those not brought by the packages $1 (their Depends closure) nor Essential or of
# priority required (on every Debian system, also a minimal container).
uncovered() {
    local closure
    closure=$(apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances $1 2>/dev/null | grep -v '^ ' | sort -u)
    while read -r kind name pkg; do
        printf '%s\n' "$closure" | grep -qx "$pkg" && continue
        case "$(dpkg-query -W -f='${Essential} ${Priority}' "$pkg" 2>/dev/null)" in yes*|*required) continue ;; esac
        echo "$kind $name ($pkg)"
    done <"$TMP/used.txt"
}
miss=$(uncovered "$named")
[ -z "$miss" ] && ok "every module and command in use ($(wc -l <"$TMP/used.txt")) comes from scripts/deps.sh's packages" \
    || fail "not brought by scripts/deps.sh: $(echo $miss)"
miss=$(uncovered "$(echo $named | tr ' ' '\n' | grep -vx python3-pil)")
echo "$miss" | grep -q '^module PIL (python3-pil)' && ok "without python3-pil the check names PIL: $(echo $miss)" \
    || fail "the check missed PIL without python3-pil: '$(echo $miss)'"
summary
