"""End-to-end harness: build real programs with hotpatch, run them, patch them
while they work, and check what they do.

Each scenario is one .test file that lit runs as a Python script. A scenario
is a function of an Env; every check raises Failure with a one-line reason:

    # A one-line fix reaches a running target, which keeps its state.
    # RUN: %python %s %objroot %clang %clangxx | FileCheck %s
    # CHECK: PASS body-fix
    import os, sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "Inputs"))
    from harness import check, run_scenario
    from shared import tick_program

    def body_fix(env):
        old, patch = env.old_and_patch({"app.c": tick_program(1)}, {"app.c": tick_program(10)})
        t = env.spawn(old)
        check(t.ask("tick") == "1", "old code")
        check(env.apply(t.pid, patch)["ok"], "applied")
        check(t.ask("tick") == "11", "new code on the kept count")

    run_scenario(body_fix)

run_scenario(f) takes OBJROOT CC CXX from the command line (lit's %objroot,
%clang, %clangxx: the compilers CMake configured), makes an Env with a fresh
work directory hp-e2e-XXXX in TMPDIR, runs f(env), and prints `PASS NAME`
(NAME: f's name with '-' for '_'), or `FAIL NAME: reason` and exits 1. Then,
whatever happened (a pass, a failed check, a Python error, SIGTERM), it kills
every process started with env.spawn and removes the work directory.

HP_E2E_KEEP=1 keeps the work directory of a scenario that fails, and the FAIL
line names it. Under lit also set LIT_PRESERVES_TMP=1, or lit removes its own
TMPDIR, and the kept directory with it:
    LIT_PRESERVES_TMP=1 HP_E2E_KEEP=1 lit.py -sv build/test --filter e2e/NAME

Target programs and steps that several scenarios use are in shared.py; see
../README.md for how to add a scenario.
"""
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback


class Failure(Exception):
    """A check that did not hold; its message is the FAIL line's reason."""


def check(cond, what):
    if not cond:
        raise Failure(what)


class Env:
    """One scenario's work directory, compilers, tools and targets."""

    def __init__(self, objroot, cc, cxx):
        self.objroot = objroot
        self.plugin = os.path.join(objroot, "lib", "hotpatch.so")
        self.bin = os.path.join(objroot, "bin")
        self.cc = cc
        self.cxx = cxx
        self.work = tempfile.mkdtemp(prefix="hp-e2e-")
        self.procs = []

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def tool(self, name):
        """The path of a hotpatch tool of this build (hp-apply, hp-diff...)."""
        return os.path.join(self.bin, name)

    def run(self, argv, expect=0, timeout=120, **kw):
        """Runs argv to its end; fails unless it exits `expect` (None: any)."""
        try:
            r = subprocess.run(argv, capture_output=True, text=True,
                               timeout=timeout, **kw)
        except subprocess.TimeoutExpired:
            raise Failure("%s did not finish within %ds" % (
                os.path.basename(argv[0]), timeout))
        if expect is not None and r.returncode != expect:
            raise Failure("%s exited %d (wanted %d): %s%s" % (
                os.path.basename(argv[0]), r.returncode, expect, r.stdout, r.stderr))
        return r

    def build(self, version, sources, cflags=(), ldflags=(), cxx=False,
              output="app", shared=False, plugin=True):
        """Writes `sources` ({file: text}) under VERSION/, compiles each with
        the plugin, links OUTPUT. Returns (binary, [objects]). A .c file is
        C and a .cpp file C++ whatever CXX says; CXX links with the C++
        compiler."""
        d = self.path(version)
        os.makedirs(d, exist_ok=True)
        objs = []
        for name, text in sources.items():
            src = os.path.join(d, name)
            with open(src, "w") as f:
                f.write(text)
            obj = src.rsplit(".", 1)[0] + ".o"
            cc = self.cxx if name.endswith(".cpp") or (cxx and not name.endswith(".c")) else self.cc
            flags = ["-O2", "-g", "-c", src, "-o", obj] + list(cflags)
            if plugin:
                flags.insert(0, "-fplugin=" + self.plugin)
            if shared:
                flags.append("-fPIC")
            self.run([cc] + flags)
            objs.append(obj)
        out = os.path.join(d, output)
        link = [self.cxx if cxx else self.cc] + objs + ["-o", out, "-lpthread"]
        if shared:
            link.append("-shared")
        self.run(link + list(ldflags))
        return out, objs

    def diff(self, old_objs, new_objs, patch, target=None, extra=()):
        argv = [self.tool("hp-diff")]
        for o, n in zip(old_objs, new_objs):
            argv += [o, n]
        if target:
            argv += ["--target", target]
        argv += ["-o", patch] + list(extra)
        self.run(argv)
        return patch

    def old_and_patch(self, old_sources, new_sources, **build_args):
        """The usual first step: builds old/ and new/ from their sources (with
        the same build() arguments), diffs their objects into fix.hp for the
        old binary. Returns (old binary, patch)."""
        old, old_objs = self.build("old", old_sources, **build_args)
        _, new_objs = self.build("new", new_sources, **build_args)
        return old, self.diff(old_objs, new_objs, self.path("fix.hp"), target=old)

    def apply(self, pid, *args, expect=0):
        """Runs hp-apply -p PID --json ARGS; returns its JSON report."""
        argv = [self.tool("hp-apply"), "-p", str(pid), "--json"]
        argv += list(args)
        r = self.run(argv, expect=expect)
        try:
            return json.loads(r.stdout)
        except ValueError:
            raise Failure("hp-apply printed no JSON: %r %r" % (r.stdout, r.stderr))

    def inspect_patch(self, patch):
        """The patch as `hp-inspect --json` shows it (one patch's object)."""
        r = self.run([self.tool("hp-inspect"), "--json", patch])
        try:
            return json.loads(r.stdout)["patches"][0]
        except (ValueError, KeyError, IndexError):
            raise Failure("hp-inspect --json printed no patch: %r" % r.stdout)

    def table_functions(self, obj):
        """{name: function} from the fingerprint table of an object or
        binary, as `hp-inspect --json` shows them."""
        r = self.run([self.tool("hp-inspect"), "--json", obj])
        try:
            files = json.loads(r.stdout)["files"]
            return {f["name"]: f for file in files for o in file["objects"]
                    for rec in o["records"] for f in rec["functions"]}
        except (ValueError, KeyError):
            raise Failure("hp-inspect --json printed no table: %r" % r.stdout)

    def replaced_functions(self, patch):
        """The names of the functions the patch replaces, sorted."""
        return sorted(f["name"] for f in self.inspect_patch(patch)["replaced_functions"])

    def spawn(self, binary, *args, env=None):
        """Starts a target; close() kills it."""
        p = Target(binary, args, env)
        self.procs.append(p)
        return p

    def close(self, remove=True):
        """Kills every target still alive; removes the work directory unless
        told to keep it."""
        for p in self.procs:
            p.kill()
        if remove:
            shutil.rmtree(self.work, ignore_errors=True)


PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # Runs in the target between fork and exec: if the harness itself is
    # SIGKILLed (no finally runs then), the kernel kills the target too. A
    # target that reads stdin on a thread other than main, or ignores EOF,
    # would otherwise run on for ever.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Target:
    """A program that answers one line per line on stdin/stdout."""

    def __init__(self, binary, args, env):
        self.proc = subprocess.Popen([binary] + list(args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1,
                                     env=env, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid

    def send(self, line):
        """Writes one line, reads no answer."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def ask(self, line, timeout=10):
        check(self.alive(), "the target died before '%s'" % line)
        self.send(line)
        return self.read(timeout, line)

    def read(self, timeout=10, asked=None):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        check(ready, "the target did not answer%s within %ds" % (
            " '%s'" % asked if asked else "", timeout))
        answer = self.proc.stdout.readline().strip()
        check(answer != "" or self.alive(), "the target died")
        return answer

    def alive(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout=10):
        """The target's exit status (negative: the signal that killed it)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure("the target did not exit within %ds" % timeout)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


def run_scenario(scenario, name=None):
    """The main() of a scenario's .test file: `%python %s %objroot %clang
    %clangxx`. See the module's docstring."""
    name = name or scenario.__name__.replace("_", "-")
    if len(sys.argv) != 4:
        sys.exit("usage: %s OBJROOT CC CXX" % sys.argv[0])
    objroot, cc, cxx = sys.argv[1:]
    keep = os.environ.get("HP_E2E_KEEP") == "1"
    # SIGTERM (a user, a runner's timeout) becomes an exit, so the finally
    # below still kills the targets and removes the work directory.
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))
    env = Env(objroot, cc, cxx)
    reason = "interrupted"
    try:
        scenario(env)
        reason = None
    except Failure as e:
        reason = str(e)
    except Exception as e:
        # A bug in the scenario (or an answer it could not parse) fails it
        # too, with the traceback on stderr.
        traceback.print_exc()
        reason = "%s: %s" % (type(e).__name__, e)
    finally:
        kept = keep and reason is not None
        env.close(remove=not kept)
    if reason is not None:
        where = ("work directory kept: %s" % env.work if kept else
                 "HP_E2E_KEEP=1 keeps its work directory")
        print("FAIL %s: %s (%s)" % (name, reason, where))
        sys.exit(1)
    print("PASS %s" % name)


def check_patch_spares(env, patch, running, wanted):
    """The patch replaces exactly `wanted`, and none of `running` (the
    functions that hold a loop the target never leaves: under strict they
    could never be replaced, and a frame already in them keeps its old
    code)."""
    replaced = env.replaced_functions(patch)
    caught = [f for f in running if f in replaced]
    check(not caught, "(a) the patch replaces %s, whose loop never returns: %r" % (
        ", ".join(caught), replaced))
    check(replaced == sorted(wanted), "(a) the patch replaces %r, wanted %r" % (
        replaced, sorted(wanted)))


def apply_strict(env, target, patch, wanted):
    """Applies under the strict policy, named explicitly: the target's threads
    were stopped for a measured pause, the report names exactly `wanted`."""
    r = env.apply(target.pid, patch, "--policy", "strict", expect=None)
    check(r.get("ok"), "(d) hp-apply --policy strict failed: %s" % r.get("error", r))
    check(r["policy"] == "strict", "(d) policy reported: %r" % r["policy"])
    check(sorted(r["functions"]) == sorted(wanted), "(d) applied %r, wanted %r" % (
        r["functions"], sorted(wanted)))
    check(r["pause_ns"] > 0 and r["threads_stopped"] >= 1,
          "(d) no pause reported: %r" % r)
    check(target.alive(), "(d) the target died during the apply")
    return r
