#!/usr/bin/env python3
"""hp-apply's wall time with a reserved patch area against without, in the
same run: the bench/apply.py target (T threads calling F functions, then
waiting 200 us), linked from the same objects twice, without and with
linker-script/hotpatch-area.ld. Each round starts one fresh process of
each and applies the patch once to each (a first apply: a reverted patch
applied again takes its region back in both), alternating, under `strict`.
Cells: with unwind tables (C's default: registering them still borrows a
thread) and without (-fno-asynchronous-unwind-tables: nothing borrows one
in the area). Prints medians and the ratio area / no area;
bench/README.md keeps the numbers.

Usage: bench/area.py [ROUNDS]   (default 20)
HP_BENCH_CELLS=8x10,1x1 (threads x functions; default 1x1,8x10,64x10)."""
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apply as base  # (its target and helpers; its main() does not run)

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
AREA = os.path.join(base.ROOT, "build", "lib", "hotpatch-area", "x86_64")


def build(work, name, nfuncs, k, cflags):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    src = os.path.join(d, "t.c")
    with open(src, "w") as f:
        f.write(base.source(nfuncs, k))
    obj = os.path.join(d, "t.o")
    base.run(["clang-19", "-O2", "-fplugin=" + base.PLUGIN, "-c", src, "-o", obj] + cflags)
    plain, area = os.path.join(d, "t"), os.path.join(d, "t-area")
    base.run(["clang-19", obj, "-o", plain, "-lpthread", "-Wl,--build-id"])
    base.run(["clang-19", obj, "-o", area, "-lpthread", "-Wl,--build-id",
              "-Wl,-T," + os.path.join(AREA, "hotpatch-area.ld"), "-L" + AREA])
    return plain, area, obj


def apply_once(exe, patch, threads):
    proc = subprocess.Popen([exe, str(threads)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
        r = json.loads(base.run([os.path.join(base.BIN, "hp-apply"), "-p", str(proc.pid),
                                 "--json", "--retries", "200", patch]).stdout)
    finally:
        proc.kill()
        proc.wait()
    return r


def main():
    work = tempfile.mkdtemp(prefix="hp-bench-area-")
    cells = [(1, 1), (8, 10), (64, 10)]
    if os.environ.get("HP_BENCH_CELLS"):
        cells = [tuple(int(v) for v in c.split("x"))
                 for c in os.environ["HP_BENCH_CELLS"].split(",")]
    print("hp-apply with a reserved patch area / without, %d fresh processes each per cell "
          "(strict, median)" % ROUNDS)
    print("%7s %4s %7s | %15s | %15s | %5s | %23s | %17s | %s" % (
        "threads", "fns", "tables", "wall ms no area", "wall ms area", "ratio",
        "borrowed us no area/area", "pause us no/area", "placement"))
    for threads, nfuncs in cells:
        for tables, cflags in (("yes", []), ("no", ["-fno-asynchronous-unwind-tables"])):
            name = "%d-%d-%s" % (threads, nfuncs, tables)
            old, old_area, oobj = build(work, "old-" + name, nfuncs, 3, cflags)
            _, _, nobj = build(work, "new-" + name, nfuncs, 5, cflags)
            patches = {}
            for exe in (old, old_area):  # (each its own build-id)
                patches[exe] = os.path.join(work, os.path.basename(exe) + name + ".hp")
                base.run([os.path.join(base.BIN, "hp-diff"), "-q", oobj, nobj,
                          "--target", exe, "-o", patches[exe]])
            got = {old: [], old_area: []}
            for _ in range(ROUNDS):
                for exe in (old, old_area):
                    got[exe].append(apply_once(exe, patches[exe], threads))
            med = {exe: {k: statistics.median(r[k] for r in rs)
                         for k in ("wall_ns", "place_stop_ns", "pause_ns")}
                   for exe, rs in got.items()}
            places = sorted({r["placement"] for r in got[old_area]} |
                            {r["placement"] for r in got[old]})
            a, n = med[old_area], med[old]
            print("%7d %4d %7s | %15.2f | %15.2f | %5.2f | %11.0f / %9.0f | %7.0f / %7.0f | %s" % (
                threads, nfuncs, tables, n["wall_ns"] / 1e6, a["wall_ns"] / 1e6,
                a["wall_ns"] / n["wall_ns"], n["place_stop_ns"] / 1e3,
                a["place_stop_ns"] / 1e3, n["pause_ns"] / 1e3, a["pause_ns"] / 1e3,
                "/".join(places)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
