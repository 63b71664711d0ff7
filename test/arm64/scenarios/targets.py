"""Builds the live scenarios' arm64 targets and patches on the host, from
the x86_64 e2e suite's own sources (test/e2e/Inputs/shared.py, and the
constants of each live-*.test file, read without running it): the targets
with the native plugin and clang-19 --target=aarch64-linux-gnu, the
patches with the native hp-diff (which writes arm64 patches). Each
scenario lands in the guest's /data/NAME: `app` (the old build), its
patches (`fix.hp`, ...), and a shared library where it has one.

    targets.py ROOT BUILD WORK SYSROOT ROOTFS

A scenario is rebuilt only when one of its sources changed, or the
plugin, hp-diff or this file are newer than what it built."""
import ast
import os
import shutil
import subprocess
import sys

root, build, work, sysroot, rootfs = sys.argv[1:6]
inputs = os.path.join(root, "test", "e2e", "Inputs")
sys.path.insert(0, inputs)
from shared import (TICK_REPLY, many_steps, park_reply, program,  # noqa: E402
                    stress_program, tick_program, tick_v)

plugin = os.path.join(build, "lib", "hotpatch.so")
hpdiff = os.path.join(build, "bin", "hp-diff")
for tool in (plugin, hpdiff):
    if not os.path.exists(tool):
        sys.exit("arm64-testbed: build hotpatch first (no %s)" % tool)
cc = ["clang-19", "--target=aarch64-linux-gnu", "--sysroot=" + sysroot]
cxx = ["clang++-19"] + cc[1:]


def constants(test):
    """The constants (BODY = r'''...''', OLD = {...}) of an x86 e2e .test
    file, read without running its scenario."""
    path = os.path.join(inputs, "..", test + ".test")
    found = {}
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return found


def sub(text, **values):
    for key, value in values.items():
        text = text.replace("{%s}" % key, value)
    return text


class Scenario:
    """versions: {version: {file: text}}; patches: {name: (old, new)}.
    cflags apply to every object; static links the app statically (else
    it is linked against the arm64 ld.so and libc in the guest's /lib).
    lib: {version: {file: text}} of a shared library (libname) the app
    links, whose patches the patches are then (the app is versions["old"])."""

    def __init__(self, versions, patches=None, cflags=(), static=True, lib=None,
                 cplusplus=False, libname="librate.so", lib_ldflags=(), ship=()):
        self.versions = versions
        self.patches = patches or {"fix.hp": ("old", "new")}
        self.cflags = list(cflags)
        self.static = static
        self.lib = lib
        self.cplusplus = cplusplus
        self.libname = libname
        self.lib_ldflags = list(lib_ldflags)
        self.ship = list(ship)  # other versions' apps the guest gets, as app-VERSION


def versions(old, new, **more):
    v = {"old": {"app.c": old}, "new": {"app.c": new}}
    v.update({k: {"app.c": text} for k, text in more.items()})
    return v


blocked = constants("live-blocked-threads-see-no-eintr")
signal = constants("live-pending-signal-delivered")
inside = constants("live-strict-refuses-while-inside")
libc = constants("live-libc-call")
helper = constants("live-helper-and-global")
string = constants("live-changed-string")
reapply = constants("live-reapply-reuses-region")
shlib = constants("live-shared-library")
SHLIB_REPLY = r'''  printf("%d\n", lib_rate(atoi(line)));'''  # (its MAIN)
cxxexc = constants("live-cxx-exceptions-cross-patch-frames")
gate = constants("live-strict-return-gate-catches-busy-frame")
revert = constants("live-strict-revert-waits-for-new-code")
# Under emulation burn() spends most of its time in the vDSO's clock, which
# has no unwind tables on Debian 12's arm64 kernel: a try that stops the
# thread there does not trust its walk and arms no gate (stack-check.cpp),
# and a later try may find the thread between calls, so whether a gate is
# armed at all was left to chance. On arm64 burn() counts instead: the
# thread is in code with tables at nearly every try.
CLOCK_BURN = "  double until = now() + seconds;\n  while (now() < until) __asm__ volatile(\"\" ::: \"memory\");\n"
COUNT_BURN = ("  (void)now;\n"
              "  for (long i = (long)(seconds * 1e8); i > 0; --i) __asm__ volatile(\"\" ::: \"memory\");\n")
for key in ("BODY", "CXX_BODY"):
    assert CLOCK_BURN in gate[key], "burn() changed in the x86 test: " + key
    gate[key] = gate[key].replace(CLOCK_BURN, COUNT_BURN)
# handle() computing in its own code (its frame the innermost), calling a
# function of its own now and then: not a leaf, so it keeps its return
# address on the stack, where its unwind tables say.
HANDLE = "__attribute__((noinline)) int handle(void) { burn(0.3); return {v}; }"
assert HANDLE in gate["BODY"], "handle() changed in the x86 test"
INNERMOST_BODY = gate["BODY"].replace(HANDLE, r'''static volatile long spins;
__attribute__((noinline)) void now_and_then(void) { spins++; }
__attribute__((noinline)) int handle(void) {
  for (long i = 0; i < 30000000; ++i) {
    spins++;
    if (!(i & 0xfffff)) now_and_then();
  }
  return {v};
}''')
# A patched function that also calls an unchanged one of its module and
# reaches a static of it: the far and branch-protected scenarios need a
# call back into the module (bl), data (adrp) and an indirect call.
CALLS = r'''
__attribute__((noinline)) int base(int x) { return x + 1; }
static int (*volatile via)(int) = base;
__attribute__((noinline)) int call_via(int x) { return via(x); }
__attribute__((noinline)) int tick(void) { static int count; count += {step}; return count + 0 * via(0) {more}; }
__attribute__((noinline)) int rate(int x) { return x * {rate}; } /* a leaf: no paciasp */
'''
CALLS_REPLY = r'''
  if (!strcmp(line, "tick")) printf("%d\n", tick());
  else if (!strncmp(line, "rate ", 5)) printf("%d\n", rate(atoi(line + 5)));
  else if (!strcmp(line, "ptr")) printf("%d\n", call_via(41));
  else printf("?\n");
'''


def calls_program(step, more=""):
    return program(sub(CALLS, step=str(step), more=more, rate="2" if step == 1 else "3"),
                   CALLS_REPLY)


def calls_versions(file):
    return {"old": {file: sub(CALLS, step="1", more="", rate="2")},
            "new": {file: sub(CALLS, step="10", more="", rate="3")},
            "calls": {file: sub(CALLS, step="10", more="+ base(0) - 1", rate="3")}}


# slow() waiting in a leaf (spin: no call, no frame record), so the return
# address into slow() is in x30 alone, on no stack: the stack check must
# read the link register too.
INSIDE_LEAF = r'''
static volatile int release_it;
__attribute__((noinline)) void spin(void) { while (!release_it) __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) int slow(void) { spin(); return {v}; }
static volatile int result = -1;
static void *runner(void *arg) { (void)arg; result = slow(); return NULL; }
static pthread_t th;
'''

# live-strict-refuses-while-inside's target, slow() waiting in a function
# of its own (nap) that saves the return address into slow() on the stack,
# signed (pointer authentication: paciasp) when built so.
INSIDE_PAC = r'''
static volatile int release_it, naps;
__attribute__((noinline)) void nap(void) { usleep(1000); ++naps; }
__attribute__((noinline)) int slow(void) { while (!release_it) nap(); return {v}; }
static volatile int result = -1;
static void *runner(void *arg) { (void)arg; result = slow(); return NULL; }
static pthread_t th;
'''


scenarios = {
    "tick": Scenario(versions(tick_program(1), tick_program(10)), ship=["new"]),
    "many": Scenario(versions(program(*many_steps(1)), program(*many_steps(1000)))),
    "blocked": Scenario(versions(*(program(blocked["BODY"].replace("{v}", v), blocked["REPLY"])
                                   for v in ("1", "2")))),
    # Two patches of one function, both against the original build.
    "stacked": Scenario(versions(tick_program(1), tick_program(10), v3=tick_program(100)),
                        patches={"p1.hp": ("old", "new"), "p2.hp": ("old", "v3")}),
    "signal": Scenario(versions(*(program(signal["BODY"].replace("{v}", v), signal["REPLY"])
                                  for v in ("1", "2")))),
    "stress": Scenario(versions(stress_program(3), stress_program(5))),
    "inside": Scenario(versions(*(program(inside["BODY"].replace("{v}", v), park_reply("slow"))
                                  for v in ("1", "2")))),
    "inside-leaf": Scenario(versions(*(program(INSIDE_LEAF.replace("{v}", v),
                                               park_reply("slow")) for v in ("1", "2")))),
    "libc": Scenario(versions(program(libc["OLD"], libc["REPLY"]),
                              program(libc["NEW"], libc["REPLY"]))),
    "helper": Scenario(versions(tick_program(1), program(helper["NEW_TICK"], TICK_REPLY))),
    "string": Scenario(versions(program(string["GREETING"] % "hello", string["REPLY"]),
                                program(string["GREETING"] % "hello, patched world",
                                        string["REPLY"]))),
    "reapply": Scenario(versions(program(tick_v(1), TICK_REPLY),
                                 program(reapply["NEW_TICK"], TICK_REPLY))),
    # The library changes, the program (dynamically linked) does not.
    "shlib": Scenario({"old": {"main.c": program("int lib_rate(int);", SHLIB_REPLY)}},
                      static=False,
                      lib={"old": {"lib.c": shlib["LIB"] % 2},
                           "new": {"lib.c": shlib["LIB"] % 3}}),
    "cxx": Scenario({v: {"lib.cpp": cxxexc["LIB"],
                         "app.cpp": sub(cxxexc["APP"], **parts)}
                     for v, parts in (("old", cxxexc["OLD"]), ("new", cxxexc["NEW"]))},
                    cplusplus=True),
    # The same, dynamically linked: libgcc_s.so.1's unwinder takes the tables.
    "cxx-dyn": Scenario({v: {"lib.cpp": cxxexc["LIB"],
                             "app.cpp": sub(cxxexc["APP"], **parts)}
                         for v, parts in (("old", cxxexc["OLD"]), ("new", cxxexc["NEW"]))},
                        cplusplus=True, static=False),
    # fix.hp: the new tick() reaches its data and calls through a pointer
    # (placed at any distance); calls.hp: it also calls back into the
    # module (bl: within 128 MiB). Built with BTI and pointer
    # authentication, and without.
    # In a shared library: Debian 12's glibc is not built with BTI, so no
    # static program is (the linker drops the property); a library linked
    # without the C start files is, and ld.so maps its text PROT_BTI.
    "bti": Scenario({"old": {"main.c": program("int tick(void); int call_via(int); int rate(int);",
                                               CALLS_REPLY)}},
                    static=False, libname="libtick.so",
                    lib=calls_versions("tick.c"), lib_ldflags=["-nostartfiles"],
                    patches={"fix.hp": ("old", "new"), "calls.hp": ("old", "calls")},
                    cflags=["-mbranch-protection=standard"]),
    "far": Scenario(versions(calls_program(1), calls_program(10),
                             calls=calls_program(10, "+ base(0) - 1")),
                    patches={"fix.hp": ("old", "new"), "calls.hp": ("old", "calls")}),
    # Return gates: handle() nearly always running, counting (see
    # COUNT_BURN); in C++, the first 20 calls leave by an exception (through
    # an armed gate: under emulation hp-apply takes longer to arm it than on
    # the host).
    "gate": Scenario(versions(*(program(gate["BODY"].replace("{v}", v), gate["REPLY"])
                                for v in ("1", "2")))),
    # A strict revert while a thread is parked in the new f().
    "revert-inside": Scenario(versions(*(program(revert["BODY"].replace("{v}", v),
                                                 park_reply("f")) for v in ("1", "2")))),
    "gate-innermost": Scenario(versions(*(program(INNERMOST_BODY.replace("{v}", v),
                                                  gate["REPLY"]) for v in ("1", "2")))),
    "gate-cxx": Scenario({v: {"app.cpp": gate["CXX_BODY"].replace("{v}", k)
                              .replace("n < 6", "n < 20")}
                          for v, k in (("old", "1"), ("new", "2"))},
                         cplusplus=True),
    # The strict check on a target whose return addresses are signed.
    "inside-pac": Scenario(versions(*(program(INSIDE_PAC.replace("{v}", v),
                                              park_reply("slow")) for v in ("1", "2"))),
                           cflags=["-mbranch-protection=standard"]),
}

# The pause benchmark's target (bench/apply.py's TARGET, read without
# running it): F functions called by T threads (T is its argument); the
# patch changes all F (x * 3 + i -> x * 5 + i). For test/arm64/bench.
BENCH = [node.value.value for node in ast.parse(open(os.path.join(root, "bench", "apply.py"))
                                                 .read()).body
         if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TARGET"][0]


def bench_source(nfuncs, k):
    fns = "\n".join("__attribute__((noinline)) long f%d(long x) { return x * %d + %d; }"
                    % (i, k, i) for i in range(nfuncs))
    names = ", ".join("f%d" % i for i in range(nfuncs))
    return BENCH % {"functions": fns, "names": names, "k": k}


for nfuncs in (1, 10, 100):
    scenarios["bench-%d" % nfuncs] = Scenario(
        {"old": {"t.c": bench_source(nfuncs, 3)}, "new": {"t.c": bench_source(nfuncs, 5)}})

# The demo's service (test/arm64/guest/28-demo-counter-service.c).
example = os.path.join(root, "examples", "counter-service")
scenarios["counter"] = Scenario(
    {"old": {"service.c": open(os.path.join(example, "service.c")).read()},
     "new": {"service.c": open(os.path.join(example, "fix", "service.c")).read()}})

stamp_inputs = [plugin, hpdiff, os.path.abspath(__file__)]


def write_if_changed(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, "w") as f:
            f.write(text)


def stale(outputs, inputs_):
    if not all(os.path.exists(o) for o in outputs):
        return True
    oldest = min(os.path.getmtime(o) for o in outputs)
    return any(os.path.getmtime(i) > oldest for i in inputs_)


def run(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode:
        sys.exit("arm64-testbed: %s failed:\n%s%s" % (" ".join(argv), r.stdout, r.stderr))


def compile_all(d, sources, flags, use_cxx):
    objs = []
    for name, text in sorted(sources.items()):
        src = os.path.join(d, name)
        write_if_changed(src, text)
        obj = src.rsplit(".", 1)[0] + ".o"
        compiler = cxx if name.endswith(".cpp") or use_cxx else cc
        if stale([obj], [src] + stamp_inputs):
            run(compiler + ["-fplugin=" + plugin, "-O2", "-g", "-c", src, "-o", obj] + flags)
        objs.append(obj)
    return objs


def build(name, s):
    out = os.path.join(work, "scenarios", name)
    data = os.path.join(rootfs, "data", name)
    os.makedirs(data, exist_ok=True)
    guest = {}  # file in /data/NAME -> host file
    link_cc = cxx if s.cplusplus else cc
    if s.lib:
        lib_objs = {}
        for v, sources in s.lib.items():
            d = os.path.join(out, "lib-" + v)
            lib_objs[v] = compile_all(d, sources, s.cflags + ["-fPIC"], s.cplusplus)
            so = os.path.join(d, s.libname)
            if stale([so], lib_objs[v]):
                run(link_cc + ["-fuse-ld=lld", "-shared"] + s.lib_ldflags + lib_objs[v] +
                    ["-o", so])
        guest[s.libname] = os.path.join(out, "lib-old", s.libname)
    objs = {}
    for v, sources in s.versions.items():
        d = os.path.join(out, v)
        objs[v] = compile_all(d, sources, s.cflags, s.cplusplus)
        app = os.path.join(d, "app")
        link = link_cc + ["-fuse-ld=lld"] + s.cflags + objs[v] + ["-o", app, "-lpthread"]
        deps = list(objs[v])
        if s.static:
            link.append("-static")
        if s.lib:
            link += ["-L" + os.path.dirname(guest[s.libname]), "-l:" + s.libname,
                     "-Wl,-rpath,/data/" + name]
            deps.append(guest[s.libname])
        if stale([app], deps):
            run(link)
    guest["app"] = os.path.join(out, "old", "app")
    for v in s.ship:
        guest["app-" + v] = os.path.join(out, v, "app")
    for patch, (old, new) in s.patches.items():
        hp = os.path.join(out, patch)
        if s.lib:
            pairs = zip(lib_objs[old], lib_objs[new])
            target = os.path.join(out, "lib-" + old, s.libname)
            deps = lib_objs[old] + lib_objs[new] + [target]
        else:
            pairs = zip(objs[old], objs[new])
            target = os.path.join(out, old, "app")
            deps = objs[old] + objs[new] + [target]
        if stale([hp], deps + stamp_inputs):
            run([hpdiff] + [o for pair in pairs for o in pair] +
                ["--target", target, "-o", hp])
        guest[patch] = hp
    for f, host in guest.items():
        dst = os.path.join(data, f)
        if not os.path.exists(dst) or os.path.getmtime(host) > os.path.getmtime(dst):
            shutil.copy2(host, dst)
    return not s.static


dynamic = False
for name, s in scenarios.items():
    dynamic |= build(name, s)

# A dynamically linked program needs the arm64 ld.so and libc in the guest
# (and a C++ one libstdc++, libm and libgcc_s, whose unwinder then takes
# the patch's tables), all in /lib/aarch64-linux-gnu, where ld.so looks.
if dynamic:
    for lib in ("lib/ld-linux-aarch64.so.1", "lib/aarch64-linux-gnu/libc.so.6",
                "lib/aarch64-linux-gnu/libm.so.6", "lib/aarch64-linux-gnu/libgcc_s.so.1",
                "usr/lib/aarch64-linux-gnu/libstdc++.so.6"):
        src = os.path.realpath(os.path.join(sysroot, lib))
        dst = os.path.join(rootfs, lib.replace("usr/lib/", "lib/"))
        if not os.path.exists(dst) or os.path.getmtime(src) > os.path.getmtime(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
