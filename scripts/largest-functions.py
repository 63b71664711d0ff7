#!/usr/bin/env python3
"""The largest functions of some C++ files, by lines from signature to
closing brace: how a reader meets the code (issue reviews quote it).

Usage: scripts/largest-functions.py [-n N] FILE|DIR...

Reads LLVM-style code: a function body opens at the end of its signature
and closes with a '}' in the signature's column. Braces in strings,
characters and comments are skipped. Out-of-line definitions, free
functions and methods written in class bodies are all counted."""
import argparse
import os
import re
import sys

SIG = re.compile(r"^(\s*)(?!namespace\b|struct\b|class\b|enum\b|union\b|extern\b)"
                 r"[^;#/]*\)\s*(const\s*)?(override\s*)?(noexcept\s*)?"
                 r"(->\s*[\w:<>,\s*&]+)?\{\s*$")


def strip(line, in_comment):
    """The line without comments and string/char literals; whether a block
    comment is still open at its end."""
    out, i = [], 0
    while i < len(line):
        if in_comment:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            i, in_comment = end + 2, False
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            in_comment, i = True, i + 2
        elif line[i] in "\"'":
            q, i = line[i], i + 1
            while i < len(line) and line[i] != q:
                i += 2 if line[i] == "\\" else 1
            i += 1
            out.append('""')
        else:
            out.append(line[i])
            i += 1
    return "".join(out), in_comment


def functions(path):
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    found, in_comment = [], False
    clean = []
    for line in lines:
        text, in_comment = strip(line, in_comment)
        clean.append(text)
    i = 0
    while i < len(clean):
        m = SIG.match(clean[i])
        # The signature may span lines: look back for the name's line.
        if m and "(" in "".join(clean[max(0, i - 6):i + 1]):
            indent = len(m.group(1))
            start = i
            while start > 0 and "(" not in clean[start] and clean[start - 1].strip():
                start -= 1
            name = re.search(r"([~\w:]+)\s*\(", "".join(clean[start:i + 1]))
            depth = 0
            for j in range(i, len(clean)):
                depth += clean[j].count("{") - clean[j].count("}")
                if depth <= 0:
                    break
            if name and name.group(1) not in ("if", "for", "while", "switch", "catch"):
                found.append((j - start + 1, name.group(1), path, start + 1))
                i = j + 1
                continue
        i += 1
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    files = []
    for p in args.paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                files += [os.path.join(root, n) for n in names if n.endswith(".cpp")]
        else:
            files.append(p)
    if not files:
        sys.exit("largest-functions: no .cpp files in " + " ".join(args.paths))
    rows = sorted((r for f in files for r in functions(f)), reverse=True)
    for size, name, path, line in rows[:args.n]:
        print(f"{size:5d}  {name}  {path}:{line}")


if __name__ == "__main__":
    main()
