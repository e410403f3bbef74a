#!/usr/bin/python3
"""tools/hostile_table.py [--check] — the sandbox-policy table of doc/security.md, one line per hostile-script test,
generated from the "-- expect: KIND" and "-- why: ..." headers of tests/hostile/*.lua, between the markers
<!-- hostile-table:begin --> and <!-- hostile-table:end -->. --check exits 1 (naming the difference) when the
document is out of step with the scripts instead of rewriting it."""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "doc", "security.md")
BEGIN, END = "<!-- hostile-table:begin -->", "<!-- hostile-table:end -->"
GROUPS = {"dos": "denial of service", "esc": "escape", "result": "bad result", "shape": "bad shape",
          "src": "source", "syntax": "source"}


def header(path):
    """(expected kind, why) from the leading comment lines; "why" may continue on further comment lines."""
    expect, why, in_why = None, [], False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("--"):
                break
            m = re.match(r"--\s*expect:\s*(\w+)", line)
            if m:
                expect, in_why = m.group(1), False
                continue
            m = re.match(r"--\s*why:\s*(.*)", line)
            if m:
                why, in_why = [m.group(1).strip()], True
            elif in_why:
                why.append(line[2:].strip())
    return expect, " ".join(why)


def table():
    rows = ["| test | what it tries, and how it is contained | error kind |", "|---|---|---|"]
    files = sorted(glob.glob(os.path.join(ROOT, "tests", "hostile", "*.lua")))
    for path in files:
        name = os.path.basename(path)
        expect, why = header(path)
        if not expect or not why:
            sys.exit("tools/hostile_table.py: %s has no '-- expect:' or '-- why:' header" % path)
        group = GROUPS.get(name.split("_", 1)[0], "other")
        rows.append("| `%s` (%s) | %s | `%s` |" % (name, group, why.replace("|", "\\|"), expect))
    rows.append("| binary chunk (made by the runner) | load precompiled bytecode, which Lua does not verify: text chunks only | `syntax` |")
    return "\n".join(rows) + "\n", len(files) + 1


def main():
    text = open(DOC, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        sys.exit("tools/hostile_table.py: %s lacks the markers %s ... %s" % (DOC, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    old, tail = rest.split(END, 1)
    body, n = table()
    new = head + BEGIN + "\n" + body + END + tail
    if "--check" in sys.argv[1:]:
        if new != text:
            old_rows, new_rows = set(old.strip().splitlines()), set(body.strip().splitlines())
            diff = sorted(new_rows - old_rows)[:3] + ["(gone) " + r for r in sorted(old_rows - new_rows)[:3]]
            print("doc/security.md is out of step with tests/hostile/ (run tools/hostile_table.py): " +
                  "; ".join(diff))
            return 1
        print("doc/security.md lists all %d hostile-script tests" % n)
        return 0
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(new)
    print("wrote %d rows into %s" % (n, DOC))
    return 0


if __name__ == "__main__":
    sys.exit(main())
