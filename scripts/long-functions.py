#!/usr/bin/env python3
"""List product functions over a line limit (default 80), longest first.

Usage: scripts/long-functions.py [LIMIT] [PATH...]   (PATH defaults to src/)

A function counts from its `fn` line to its closing brace at the same indentation;
`#[cfg(test)]` modules and files named tests.rs are left out. A function may stay long
when a comment on the line above its `fn` (or its doc comment) says why: such lines are
marked "reason given".
"""
import os
import re
import sys

FN = re.compile(r"^(\s*)(pub(\([a-z:]+\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        if re.match(r"^\s*#\[cfg\(test\)\]", lines[i]) and i + 1 < len(lines) and re.match(
            r"^\s*(pub(\(\w+\))? )?mod \w+", lines[i + 1]
        ):
            return
        m = FN.match(lines[i])
        if m and not lines[i].rstrip().endswith(";"):
            indent = m.group(1)
            end = i
            while end < len(lines) and lines[end] != indent + "}":
                end += 1
            above = lines[max(0, i - 8) : i]
            reason = any("long:" in a or "Long because" in a for a in above)
            yield m.group(7), i + 1, end - i + 1, reason
        i += 1


def main():
    args = sys.argv[1:]
    limit = int(args.pop(0)) if args and args[0].isdigit() else 80
    roots = args or ["src"]
    found = []
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for f in files:
                p = os.path.join(dirpath, f)
                if not f.endswith(".rs") or f == "tests.rs":
                    continue
                for name, line, length, reason in functions(p):
                    if length > limit:
                        found.append((length, f"{p}:{line}", name, reason))
    for length, where, name, reason in sorted(found, reverse=True):
        print(f"{length:5} {where} {name}" + ("  (reason given)" if reason else ""))
    return 1 if any(not r for *_, r in found) else 0


if __name__ == "__main__":
    sys.exit(main())
