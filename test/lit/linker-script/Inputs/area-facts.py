"""Prints what a linked file's reserved patch area is, from llvm-readelf -lSW:
each area section's type and flags and the flags of the LOAD segment holding
it, whether a PT_NOTE holds the area's note, and any segment that is
writable and executable at once. One line each, for FileCheck; the files in the order given."""
import re
import subprocess
import sys

def facts(readelf, path):
  out = subprocess.run([readelf, "-lSW", path], capture_output=True, text=True,
                       check=True).stdout
  sections = {}
  for m in re.finditer(r"\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+"
                       r"[0-9a-f]+\s+([A-Za-z]*)\s", out):
      sections[m.group(1)] = (m.group(2), int(m.group(3), 16), int(m.group(4), 16),
                              m.group(5))
  segments = []
  for m in re.finditer(r"^\s+(LOAD|NOTE)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+"
                       r"0x[0-9a-f]+\s+0x([0-9a-f]+)\s+([RWE ]+?)\s+0x", out, re.M):
      segments.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16),
                       m.group(4).replace(" ", "")))
  for name in (".hotpatch.area.text", ".hotpatch.area.data", ".note.hotpatch.area"):
      if name not in sections:
          print("%s: missing" % name)
          continue
      kind, addr, size, flags = sections[name]
      holders = [("%s %s" % (t, f)) for t, lo, sz, f in segments if lo <= addr < lo + sz]
      print("%s: %s %s size %#x in %s" % (name, kind, flags, size, ", ".join(holders)))
  wx = [s for s in segments if s[0] == "LOAD" and "W" in s[3] and "E" in s[3]]
  print("writable and executable segments: %d" % len(wx))


for path in sys.argv[2:]:
  facts(sys.argv[1], path)
