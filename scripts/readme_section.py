"""One README section between markers, for the scripts that make the README's figures.

    from readme_section import put_section
    put_section("README.md", "guidance-results", text)

replaces what is between <!-- NAME --> and <!-- /NAME --> with text (atomically: a
temporary file, then a rename); dies naming the README when the markers are missing.
As a command: readme_section.py README.md NAME FILE (FILE: the text, - for stdin)."""
import os
import sys


def put_section(readme, name, text):
    with open(readme) as f:
        r = f.read()
    b, e = f"<!-- {name} -->", f"<!-- /{name} -->"
    if b not in r or e not in r:
        raise SystemExit(f"{readme}: no {b} ... {e} markers")
    i, j = r.index(b) + len(b), r.index(e)
    with open(readme + ".tmp", "w") as f:
        f.write(r[:i] + "\n" + text.rstrip("\n") + "\n" + r[j:])
    os.replace(readme + ".tmp", readme)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: readme_section.py README.md NAME FILE|-")
    src = sys.stdin if sys.argv[3] == "-" else open(sys.argv[3])
    put_section(sys.argv[1], sys.argv[2], src.read())
