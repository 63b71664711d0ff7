"""Prints each function of a patch as `name: bytes`, sorted by name, from
`llvm-objdump -d` on stdin: the code alone, wherever a patch placed it (the
fill after a function and the next one's NOP padding are dropped)."""
import re
import sys

code = {}
name = None
for line in sys.stdin:
    m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
    if m:
        name = m.group(1)
        code[name] = []
        continue
    m = re.match(r"^\s+[0-9a-f]+:\s+((?:[0-9a-f]{2} )+)", line)
    if m and name:
        code[name].append(m.group(1).strip())
for name in sorted(code):
    data = " ".join(code[name]).split()
    while data and data[-1] in ("cc", "90"):
        data.pop()
    print("%s: %s" % (name, " ".join(data)))
