"""End-to-end harness: build real programs with hotpatch, run them, patch them
while they work, and check what they do. Used by the scenarios in
scenarios.py, and by the .test files that are their own scenario (run with
run_scenario); every check raises Failure with a one-line reason."""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Env:
    def __init__(self, objroot, cc=None, cxx=None, clean=False):
        """cc, cxx: the compilers (default clang-19, clang++-19). clean: close()
        removes the work directory (opt-in; by default it is left in TMPDIR)."""
        self.objroot = objroot
        self.plugin = os.path.join(objroot, "lib", "hotpatch.so")
        self.bin = os.path.join(objroot, "bin")
        self.cc = cc or "clang-19"
        self.cxx = cxx or "clang++-19"
        self.work = tempfile.mkdtemp(prefix="hp-e2e-")
        self.procs = []
        self.clean = clean

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def run(self, argv, expect=0, timeout=120, **kw):
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
        the plugin, links OUTPUT. Returns (binary, [objects])."""
        d = self.path(version)
        os.makedirs(d, exist_ok=True)
        objs = []
        for name, text in sources.items():
            src = os.path.join(d, name)
            with open(src, "w") as f:
                f.write(text)
            obj = src.rsplit(".", 1)[0] + ".o"
            cc = self.cxx if cxx or name.endswith(".cpp") else self.cc
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
        argv = [os.path.join(self.bin, "hp-diff")]
        for o, n in zip(old_objs, new_objs):
            argv += [o, n]
        if target:
            argv += ["--target", target]
        argv += ["-o", patch] + list(extra)
        self.run(argv)
        return patch

    def apply(self, pid, *args, expect=0):
        argv = [os.path.join(self.bin, "hp-apply"), "-p", str(pid), "--json"]
        argv += list(args)
        r = self.run(argv, expect=expect)
        try:
            return json.loads(r.stdout)
        except ValueError:
            raise Failure("hp-apply printed no JSON: %r %r" % (r.stdout, r.stderr))

    def inspect_patch(self, patch):
        """The patch as `hp-inspect --json` shows it (one patch's object)."""
        r = self.run([os.path.join(self.bin, "hp-inspect"), "--json", patch])
        try:
            return json.loads(r.stdout)["patches"][0]
        except (ValueError, KeyError, IndexError):
            raise Failure("hp-inspect --json printed no patch: %r" % r.stdout)

    def table_functions(self, obj):
        """{name: function} from the fingerprint table of an object or
        binary, as `hp-inspect --json` shows them."""
        r = self.run([os.path.join(self.bin, "hp-inspect"), "--json", obj])
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
        p = Target(binary, args, env)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            p.kill()
        if self.clean:
            shutil.rmtree(self.work, ignore_errors=True)


class Target:
    """A program that answers one line per line on stdin/stdout."""

    def __init__(self, binary, args, env):
        self.proc = subprocess.Popen([binary] + list(args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1,
                                     env=env)
        self.pid = self.proc.pid

    def ask(self, line, timeout=10):
        check(self.alive(), "the target died before '%s'" % line)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read(timeout)

    def read(self, timeout=10):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        check(ready, "the target did not answer within %ds" % timeout)
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


def main(scenarios):
    objroot, name = sys.argv[1], sys.argv[2]
    env = Env(objroot)
    try:
        scenarios[name](env)
    except Failure as e:
        print("FAIL %s: %s" % (name, e))
        sys.exit(1)
    finally:
        env.close()
    print("PASS %s" % name)


def run_scenario(scenario, name=None):
    """main() for a .test file that is its own scenario:
    `%python %s %objroot [CC CXX]`. Prints PASS NAME or FAIL NAME: reason
    (exit 1). Every target is killed whatever happens (SIGTERM included);
    the work directory is removed after a pass and kept, and named, after a
    failure (HP_E2E_KEEP=1 keeps it always)."""
    name = name or scenario.__name__.replace("_", "-")
    objroot = sys.argv[1]
    cc = sys.argv[2] if len(sys.argv) > 2 else None
    cxx = sys.argv[3] if len(sys.argv) > 3 else None
    env = Env(objroot, cc, cxx)
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))
    keep = os.environ.get("HP_E2E_KEEP") == "1"
    try:
        scenario(env)
    except Failure as e:
        env.clean = False
        print("FAIL %s: %s (work directory %s)" % (name, e, env.work))
        sys.exit(1)
    else:
        env.clean = not keep
    finally:
        env.close()
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
