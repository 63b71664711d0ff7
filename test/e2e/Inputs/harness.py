"""End-to-end harness: build real programs with hotpatch, run them, patch them
while they work, and check what they do. Used by the scenarios in
scenarios.py; every check raises Failure with a one-line reason."""
import json
import os
import select
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
    def __init__(self, objroot):
        self.objroot = objroot
        self.plugin = os.path.join(objroot, "lib", "hotpatch.so")
        self.bin = os.path.join(objroot, "bin")
        self.cc = "clang-19"
        self.cxx = "clang++-19"
        self.work = tempfile.mkdtemp(prefix="hp-e2e-")
        self.procs = []

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

    def spawn(self, binary, *args, env=None):
        p = Target(binary, args, env)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            p.kill()


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
