"""The C++ matrix of issue 12 item 2: one live scenario per optimisation
level, with and without -fno-exceptions (test/e2e/cxx-matrix/*.test).

The target's app.cpp has a function with try/catch, one with only cleanups
(a destructor defined in another file, a std::string), one that catches and
throws anew, and a noexcept one; with exceptions, a C file built with
-fexceptions (personality __gcc_personality_v0) has a function with an
__attribute__((cleanup)) variable that a C++ exception from a callback
passes through. The fix changes every one of them; it is applied with the
strict policy while a worker thread throws through the patched code. Then
each answers as the fixed source says, the cleanups run on the exceptional
paths of the new code, and, last, a throw escaping the new noexcept
function still terminates the process (SIGABRT): the scenario's final step,
since it kills the target.
"""
import signal
import time

from harness import check

LIB = r'''
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
std::atomic<long> cleanups;
struct Tracker { ~Tracker(); };
Tracker::~Tracker() { cleanups++; }
long parse(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
#if __cpp_exceptions
  if (end == s || *end) throw std::invalid_argument(std::string("bad ") + s);
#else
  if (end == s || *end) return -1000;
#endif
  return v;
}
extern "C" long cxx_callback(long n) {
#if __cpp_exceptions
  if (n < 0) throw std::out_of_range("negative " + std::to_string(n));
#endif
  return n * 2;
}
'''

# {EXC} holds the functions only a build with exceptions has.
APP = r'''
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
long parse(const char *s);
extern std::atomic<long> cleanups;
struct Tracker { ~Tracker(); };
__attribute__((noinline)) long with_cleanups(const char *s) {
  Tracker t;
  std::string copy(s);
  copy += "{SUFFIX}";
  return parse(copy.c_str()) + {K};
}
__attribute__((noinline)) long guarded(long n) noexcept {
  {GUARDED}
}
{EXC}
__attribute__((noinline)) static void reply(const char *line) {
  const char *arg = strchr(line, ' ');
  arg = arg ? arg + 1 : "";
  if (!strncmp(line, "cleanups ", 9)) printf("%ld\n", with_cleanups(arg));
  else if (!strncmp(line, "guarded ", 8)) printf("%ld\n", guarded(atol(arg)));
  else if (!strcmp(line, "count")) printf("%ld\n", cleanups.load());
{EXC_REPLY}
  else printf("?\n");
}
int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
{EXC_MAIN}
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    if (!strcmp(line, "quit")) break;
{EXC_TRY}    reply(line);
{EXC_CATCH}
  }
  return 0;
}
'''

EXC = r'''
extern "C" long through_c(long n);
extern "C" long c_cleanups;
__attribute__((noinline)) long with_catch(const char *s) {
  try {
    return parse(s) * {M};
  } catch (const std::invalid_argument &) {
    return {CAUGHT};
  }
}
__attribute__((noinline)) long rethrow(const char *s) {
  try {
    return parse(s);
  } catch (const std::invalid_argument &e) {
    throw std::runtime_error(std::string("{WRAP} ") + e.what());
  }
}
static std::atomic<long> workerThrows;
static void worker() {
  for (;;) {
    try {
      rethrow("x");
    } catch (const std::runtime_error &) {
      workerThrows++;
    }
    try {
      through_c(-1);
    } catch (const std::out_of_range &) {
      workerThrows++;
    }
    usleep(1000);
  }
}
'''
EXC_REPLY = r'''
  else if (!strncmp(line, "catch ", 6)) printf("%ld\n", with_catch(arg));
  else if (!strncmp(line, "rethrow ", 8)) printf("%ld\n", rethrow(arg));
  else if (!strncmp(line, "c ", 2)) printf("%ld\n", through_c(atol(arg)));
  else if (!strcmp(line, "ccount")) printf("%ld\n", __atomic_load_n(&c_cleanups, __ATOMIC_RELAXED));
  else if (!strcmp(line, "worker")) printf("%ld\n", workerThrows.load());
'''
EXC_MAIN = "  std::thread(worker).detach();\n"
EXC_TRY = "    try {\n"
EXC_CATCH = r'''    } catch (const std::exception &e) {
      printf("caught %s\n", e.what());
    }'''

# Built with -fexceptions: through_c's cleanup must run when cxx_callback's
# exception passes through it.
CFILE = r'''
long cxx_callback(long n);
long c_cleanups;
static void done(long *p) {
  (void)p;
  __atomic_add_fetch(&c_cleanups, 1, __ATOMIC_RELAXED);
}
__attribute__((noinline)) long through_c(long n) {
  long guard __attribute__((cleanup(done))) = n;
  return cxx_callback(n) + {K};
}
'''

OLD = {"SUFFIX": "", "K": "0", "M": "1", "CAUGHT": "-1", "WRAP": "old",
       "GUARDED": "return n + 1;", "CK": "0"}
# The new noexcept guarded() catches inside itself, and lets a throw for a
# negative n escape: std::terminate.
NEW = {"SUFFIX": "0", "K": "7", "M": "3", "CAUGHT": "-2", "WRAP": "new",
       "GUARDED": ('try {\n    if (n == 0) throw std::runtime_error("zero");\n'
                   '  } catch (const std::exception &) {\n    return -7;\n  }\n'
                   '  if (n < 0) throw std::logic_error("escapes noexcept");\n'
                   '  return n + 2;'),
       "CK": "1000"}
NEW_NO_EXC = dict(NEW, GUARDED="if (n == 0) return -7; return n + 2;")


def fill(text, parts):
    for key, value in parts.items():
        text = text.replace("{%s}" % key, value)
    return text


def sources(parts, exceptions):
    app = fill(APP, {
        "EXC": fill(EXC, parts) if exceptions else "",
        "EXC_REPLY": EXC_REPLY if exceptions else "",
        "EXC_MAIN": EXC_MAIN if exceptions else "",
        "EXC_TRY": EXC_TRY if exceptions else "",
        "EXC_CATCH": EXC_CATCH if exceptions else "",
    })
    out = {"lib.cpp": LIB, "app.cpp": fill(app, parts)}
    if exceptions:
        out["cfile.c"] = fill(CFILE, {"K": parts["CK"]})
    return out


def answers(t, pairs, when):
    for line, want in pairs:
        got = t.ask(line, timeout=30)
        check(got == want, "%s: '%s' answered %r, wanted %r" % (when, line, got, want))


def worker_throws_past(t, count, when):
    """Waits (up to 30 s: the machine may be loaded) for the worker thread's
    count of caught exceptions to pass COUNT."""
    deadline = time.monotonic() + 30
    while int(t.ask("worker")) <= count:
        check(time.monotonic() < deadline, "%s: the worker's exceptions stopped at %d" % (
            when, count))
        time.sleep(0.01)


def cxx_matrix(env, opt, exceptions):
    """The scenario at -OPT, with exceptions or -fno-exceptions."""
    flags = ["-" + opt, "-fexceptions" if exceptions else "-fno-exceptions"]
    new = NEW if exceptions else NEW_NO_EXC
    old, patch = env.old_and_patch(sources(OLD, exceptions), sources(new, exceptions),
                                   cflags=flags, cxx=True)
    replaced = env.replaced_functions(patch)
    wanted = ["_Z13with_cleanupsPKc", "_Z7guardedl"]
    if exceptions:
        wanted += ["_Z10with_catchPKc", "_Z7rethrowPKc", "through_c"]
    check(all(f in replaced for f in wanted), "the patch replaces %r, wanted %r among them" % (
        replaced, wanted))

    t = env.spawn(old)
    answers(t, [("cleanups 5", "5"), ("count", "1"), ("guarded 0", "1"),
                ("guarded -1", "0")], "old")
    if exceptions:
        answers(t, [("catch 4", "4"), ("catch x", "-1"), ("rethrow x", "caught old bad x"),
                    ("cleanups x", "caught bad x"), ("c 5", "10"), ("c -5", "caught negative -5")],
                "old")
        ccount = int(t.ask("ccount"))
        check(ccount >= 1, "old: the C cleanup ran on the exceptional path: %d" % ccount)
        worker_throws_past(t, 0, "old")

    r = env.apply(t.pid, patch, "--policy", "strict", "--wait", "20s", expect=None)
    check(r.get("ok"), "hp-apply --policy strict failed: %s" % r.get("error", r))
    if exceptions:
        check(r["unwind_tables"] == "registered", "unwind tables: %r" % r)

    count = int(t.ask("count"))
    answers(t, [("cleanups 5", "57"), ("count", str(count + 1)), ("guarded 0", "-7"),
                ("guarded 5", "7")], "new")
    if exceptions:
        before = int(t.ask("ccount"))
        worker = int(t.ask("worker"))
        answers(t, [("catch 4", "12"), ("catch x", "-2"), ("rethrow x", "caught new bad x"),
                    ("cleanups x", "caught bad x0"), ("count", str(count + 2)),
                    ("c 5", "1010"), ("c -5", "caught negative -5")], "new")
        after = int(t.ask("ccount"))
        # The worker's through_c(-1) runs the cleanup too: at least ours.
        check(after >= before + 2, "new: the C cleanup ran on both paths of the new "
              "through_c: %d -> %d" % (before, after))
        worker_throws_past(t, worker, "new")
        # Last, since it kills the target: terminate semantics are kept.
        t.send("guarded -1")
        status = t.wait_exit(timeout=30)
        check(status == -signal.SIGABRT,
              "a throw escaping the new noexcept guarded() exited %r, wanted SIGABRT" % status)
    else:
        answers(t, [("cleanups x", "-993")], "new")
        check(t.alive(), "the target died")
