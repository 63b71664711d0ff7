#!/usr/bin/env python3
"""hp-apply's pause, against the floor of stopping and resuming the same
threads with ptrace and nothing else, measured in the same run.

For T threads x F patched functions (default 1, 8, 64 x 1, 10, 100): a
target whose T threads call the F functions, then wait 200 us, in a loop
(a service waiting for work); the patch changes all F.
Each configuration applies and reverts ROUNDS times under `strict`
(pause = first thread stopped to last resumed) and under `entry-only`
(threads stopped for the flip: must be 0), and measures the floor with
bench/stop-floor.cpp (four stops a round: the first, cold, is shown
apart; the floor is the three warm ones), the three alternating. Also the
cost of a call through a patched entry against a direct call. Prints a
table; bench/README.md keeps the numbers.

Usage: bench/apply.py [ROUNDS]   (default 30)
HP_BENCH_CELLS=8x10,1x1 measures only those cells (threads x functions).
HP_BENCH_CONTENDED=1 measures every cell twice, idle and then with two
CPU-bound processes per core running (a busy host), one row each; with
HP_BENCH_NO_LOAN_TOO=1 also busy without lending the stopped threads
SCHED_FIFO (HOTPATCH_NO_PRIORITY_LOAN=1: the baseline of that change)."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
PLUGIN = os.path.join(ROOT, "build", "lib", "hotpatch.so")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 30

TARGET = r'''
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
%(functions)s
static long (*table[])(long) = { %(names)s };
static void *spin(void *arg) {
  long x = (long)arg, sink = 0;
  for (;;) {
    for (unsigned i = 0; i < sizeof table / sizeof *table; ++i)
      sink += table[i](x);
    usleep(200); /* a service waits for work most of the time */
  }
  return (void *)sink;
}
__attribute__((noinline)) long probe(long x) { return x + %(k)d; }
/* A function with some work in it (~30 dependent multiply-adds). */
__attribute__((noinline)) long work(long x) {
  for (int i = 0; i < 30; ++i) {
    x = x * 6364136223846793005l + %(k)d;
    __asm__ volatile("" : "+r"(x)); /* no folding into one multiply */
  }
  return x;
}
int main(int argc, char **argv) {
  int threads = atoi(argv[1]);
  for (long i = 0; i < threads - 1; ++i) {
    pthread_t t;
    pthread_create(&t, NULL, spin, (void *)i);
  }
  printf("ready\n");
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    struct timespec a, b;
    long sink = 0, n = line[0] == 'w' ? 2000000 : 20000000;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; ++i)
      sink += line[0] == 'w' ? work(i) : probe(i);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%%.4f %%ld\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n, sink);
    fflush(stdout);
  }
  return 0;
}
'''


def source(nfuncs, k):
    fns = "\n".join("__attribute__((noinline)) long f%d(long x) { return x * %d + %d; }"
                    % (i, k, i) for i in range(nfuncs))
    names = ", ".join("f%d" % i for i in range(nfuncs))
    return TARGET % {"functions": fns, "names": names, "k": k}


TOOL_ENV = dict(os.environ)  # what hp-apply and the floor tool run with


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True,
                          env=TOOL_ENV, **kw)


def build(work, name, nfuncs, k):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)  # (a cell measured idle and busy builds twice)
    src = os.path.join(d, "t.c")
    with open(src, "w") as f:
        f.write(source(nfuncs, k))
    obj = os.path.join(d, "t.o")
    run(["clang-19", "-O2", "-fplugin=" + PLUGIN, "-c", src, "-o", obj])
    exe = os.path.join(d, "t")
    run(["clang-19", obj, "-o", exe, "-lpthread"])
    return exe, obj


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def measure(threads, nfuncs, work):
    old, oobj = build(work, "old-%d-%d" % (threads, nfuncs), nfuncs, 3)
    _, nobj = build(work, "new-%d-%d" % (threads, nfuncs), nfuncs, 5)
    patch = os.path.join(work, "p-%d-%d.hp" % (threads, nfuncs))
    run([os.path.join(BIN, "hp-diff"), "-q", oobj, nobj, "--target", old, "-o", patch])
    proc = subprocess.Popen([old, str(threads)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    out = {}
    try:
        # Rounds alternate: the floor (a few stops in one process), strict,
        # entry-only; drift on the machine hits all three alike.
        floors, firsts = [], []
        runs = {p: ([], [], [], [], [], []) for p in ("strict", "entry-only")}
        for _ in range(ROUNDS):
            # The first stop of a fresh process is slower (~25 us for 8
            # threads): kept apart. hp-apply's flip is such a first stop;
            # the ratio is against the lower, warm floor.
            floor = [int(v) for v in run([os.path.join(BIN, "hp-bench-stop-floor"),
                                          str(proc.pid), "4"]).stdout.split()]
            firsts.append(floor[0])
            floors += floor[1:]
            for policy, (pauses, walls, stopped, stops, unwinds, borrowed) in runs.items():
                r = json.loads(run([os.path.join(BIN, "hp-apply"), "-p", str(proc.pid),
                                    "--json", "--policy", policy, "--retries", "200",
                                    patch]).stdout)
                pauses.append(r["pause_ns"])
                stops.append(r.get("pause_stop_ns", 0))
                unwinds.append(r.get("pause_unwind_ns", 0))
                walls.append(r["wall_ns"])
                # The thread borrowed to place the patch (and register its
                # tables) is paused too, outside the flip's stop.
                borrowed.append(r.get("place_stop_ns", 0))
                stopped.append(r["threads_stopped"])
                run([os.path.join(BIN, "hp-apply"), "-p", str(proc.pid), "--revert-all"])
        out["floor"] = (statistics.median(floors), pct(floors, 0.99),
                        statistics.median(firsts))
        for policy, (pauses, walls, stopped, stops, unwinds, borrowed) in runs.items():
            out[policy] = (statistics.median(pauses), pct(pauses, 0.99),
                           statistics.median(walls), max(stopped),
                           statistics.median(stops), statistics.median(unwinds),
                           statistics.median(borrowed), pct(borrowed, 0.99))
    finally:
        proc.kill()
        proc.wait()
    return out


class Load:
    """Two CPU-bound processes per core for the length of a `with`."""

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                      for _ in range(2 * (os.cpu_count() or 1))]
        time.sleep(0.5)  # let the scheduler spread them
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def call_cost(work):
    """probe() before and after it is patched to code of the same cost."""
    old, oobj = build(work, "call-old", 1, 3)
    src = open(os.path.join(work, "call-old", "t.c")).read()
    d = os.path.join(work, "call-new")
    os.makedirs(d)
    with open(os.path.join(d, "t.c"), "w") as f:
        # Same instructions, another constant: only the redirect differs.
        f.write(src.replace("return x + 3;", "return x + 4;")
                   .replace("x * 6364136223846793005l + 3;", "x * 6364136223846793005l + 4;"))
    nobj = os.path.join(d, "t.o")
    run(["clang-19", "-O2", "-fplugin=" + PLUGIN, "-c", os.path.join(d, "t.c"), "-o", nobj])
    patch = os.path.join(work, "call.hp")
    run([os.path.join(BIN, "hp-diff"), "-q", oobj, nobj, "--target", old, "-o", patch])
    proc = subprocess.Popen([old, "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()

    def timed(what):
        proc.stdin.write(what + "\n"); proc.stdin.flush()
        return float(proc.stdout.readline().split()[0])
    try:
        before = (min(timed("x") for _ in range(5)), min(timed("w") for _ in range(5)))
        run([os.path.join(BIN, "hp-apply"), "-p", str(proc.pid), patch])
        after = (min(timed("x") for _ in range(5)), min(timed("w") for _ in range(5)))
    finally:
        proc.kill()
        proc.wait()
    return before, after


def main():
    work = tempfile.mkdtemp(prefix="hp-bench-apply-")
    if os.environ.get("HP_BENCH_CALL_ONLY"):
        before, after = call_cost(work)
        for i, what in enumerate(("trivial function", "~30 multiply-adds")):
            print("call through a patched entry, %s: %.4f ns vs %.4f ns direct: ratio %.3f"
                  % (what, after[i], before[i], after[i] / before[i]))
        return
    print("hp-apply pause, %d rounds per cell; floor = ptrace stop+resume of the same threads" % ROUNDS)
    contended = os.environ.get("HP_BENCH_CONTENDED") == "1"
    print("%7s %5s %4s | %21s | %21s | %5s | %11s | %20s | %9s | %33s | %s" % (
        "threads", "fns", "load", "strict median/p99 us", "floor median/p99 us", "ratio",
        "first stop", "entry-only stopped", "wall ms", "strict: stopping / stack check us",
        "borrowed thread median/p99 us"))
    cells = [(t, f) for t in (1, 8, 64) for f in (1, 10, 100)]
    if os.environ.get("HP_BENCH_CELLS"):  # e.g. "8x10,1x1"
        cells = [tuple(int(v) for v in c.split("x"))
                 for c in os.environ["HP_BENCH_CELLS"].split(",")]
    loads = [("idle", False, {})]
    if contended:
        if os.environ.get("HP_BENCH_NO_LOAN_TOO") == "1":
            loads.append(("busy, no loan", True, {"HOTPATCH_NO_PRIORITY_LOAN": "1"}))
        loads.append(("busy", True, {}))
    for threads, nfuncs in cells:
        for label, busy, extra in loads:
            TOOL_ENV.clear()
            TOOL_ENV.update(os.environ, **extra)
            if busy:
                with Load():
                    m = measure(threads, nfuncs, work)
            else:
                m = measure(threads, nfuncs, work)
            s, f, e = m["strict"], m["floor"], m["entry-only"]
            print("%7d %5d %4s | %9.1f / %9.1f | %9.1f / %9.1f | %5.2f | %11.1f | %9d threads    | %9.2f | %15.0f / %15.0f | %.0f / %.0f" % (
                threads, nfuncs, label, s[0] / 1e3, s[1] / 1e3, f[0] / 1e3, f[1] / 1e3,
                s[0] / max(f[0], 1), f[2] / 1e3, e[3], s[2] / 1e6, s[4] / 1e3, s[5] / 1e3,
                s[6] / 1e3, s[7] / 1e3))
            sys.stdout.flush()
    TOOL_ENV.clear()
    TOOL_ENV.update(os.environ)
    before, after = call_cost(work)
    print("call through a patched entry, trivial function: %.4f ns vs %.4f ns direct: ratio %.3f (target <= 1.05)"
          % (after[0], before[0], after[0] / before[0]))
    print("call through a patched entry, ~30 multiply-adds: %.4f ns vs %.4f ns direct: ratio %.3f"
          % (after[1], before[1], after[1] / before[1]))


if __name__ == "__main__":
    main()
