"""Steps of the hp-build scenarios (live-hp-build-*.test): a project of
Inputs/hp-build copied into the work directory, hp-build run on it with the
scenario's own cache, its JSON summary read back."""
import json
import os
import shutil

from harness import Failure, check

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hp-build")


def copy_project(env, name):
    """Copies Inputs/hp-build/NAME to the work directory's src/."""
    src = env.path("src")
    shutil.copytree(os.path.join(PROJECTS, name), src)
    return src


def hp_build(env, src, *args, expect=0):
    """Runs hp-build -C SRC --cache CACHE --json FILE ARGS (which end with
    -- BUILD-COMMAND); returns (the finished process, the JSON summary)."""
    summary = env.path("hp-build.json")
    if os.path.exists(summary):
        os.remove(summary)
    r = env.run([env.tool("hp-build"), "-C", src, "--cache", env.path("cache"),
                 "--json", summary] + list(args), expect=expect, timeout=600)
    try:
        with open(summary) as f:
            return r, json.load(f)
    except (OSError, ValueError):
        raise Failure("hp-build wrote no JSON summary: %s%s" % (r.stdout, r.stderr))


def phase(summary, name):
    """The phase NAME of a summary."""
    for p in summary["phases"]:
        if p["name"] == name:
            return p
    raise Failure("no phase '%s' in %r" % (name, summary["phases"]))


def deploy(env, binary, name):
    """A stripped copy of BINARY, as a release is deployed."""
    to = env.path(name)
    shutil.copy(binary, to)
    env.run(["strip", to])
    return to
