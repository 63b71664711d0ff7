// The x86_64 suite's live-exe-patches-every-process-of-a-program,
// live-wrong-build-refused, live-traced-by-another-refused and
// live-dead-pid-refused on arm64: --exe patches both processes of the old
// build (by build-id) and not one of the new build; -p A,B again finds the
// patch already there; the patch applied to the other build is refused
// (exit 1, naming the build-id), to a process another tracer holds (exit 4,
// not allowed to trace), to a dead pid (exit 4); every target untouched by
// a refusal and alive.
#include "repl.h"

#include <sys/ptrace.h>

static int tick(struct target *t) { return atoi(ask(t, "tick")); }

int main(void) {
  struct target a = spawn("/data/tick/app"), b = spawn("/data/tick/app"),
                other = spawn("/data/tick/app-new");
  CHECK(tick(&a) == 1 && tick(&b) == 1, "old code");
  CHECK(tick(&other) == 10, "the new build");

  char out[16384];
  char *exe[] = {"/bin/hp-apply", "--exe", "/data/tick/app", "--json", "/data/tick/fix.hp", NULL};
  int status = run(exe, out, sizeof out);
  printf("hp-apply --exe -> %d: %s\n", status, out);
  CHECK(status == 0 && has(out, "done", "2"), "--exe: %s", out);
  char pa[16], pb[16], po[16];
  snprintf(pa, sizeof pa, "%d", (int)a.pid);
  snprintf(pb, sizeof pb, "%d", (int)b.pid);
  snprintf(po, sizeof po, "%d", (int)other.pid);
  CHECK(has(out, "pid", pa) && has(out, "pid", pb), "a or b not patched: %s", out);
  CHECK(!has(out, "pid", po), "the other build was patched: %s", out);
  CHECK(tick(&a) == 11 && tick(&b) == 11, "new code on the kept counts");
  CHECK(tick(&other) == 20, "a process of another build was touched");

  char both[64];
  snprintf(both, sizeof both, "%d,%d", (int)a.pid, (int)b.pid);
  char *again[] = {"/bin/hp-apply", "-p", both, "--json", "/data/tick/fix.hp", NULL};
  status = run(again, out, sizeof out);
  CHECK(status == 0 && !has(out, "already_applied", "0"), "again: %d %s", status, out);

  const char *r = hp_apply(other.pid, 1, "/data/tick/fix.hp", (char *)NULL);
  CHECK(strstr(r, "build-id"), "the wrong build's refusal: %s", r);
  CHECK(tick(&other) == 30, "the wrong build was touched");

  CHECK(ptrace(PTRACE_SEIZE, other.pid, NULL, NULL) == 0, "seize: %s", strerror(errno));
  char pid[16];
  snprintf(pid, sizeof pid, "%d", (int)other.pid);
  char *traced[] = {"/bin/hp-apply", "-p", pid, "/data/tick/fix.hp", NULL};
  status = run(traced, out, sizeof out);
  CHECK(status == 4 && strstr(out, "not allowed to trace"), "traced: %d %s", status, out);
  // (A detach wants the tracee stopped.)
  CHECK(ptrace(PTRACE_INTERRUPT, other.pid, NULL, NULL) == 0, "interrupt: %s", strerror(errno));
  CHECK(waitpid(other.pid, &status, __WALL) == other.pid, "wait: %s", strerror(errno));
  CHECK(ptrace(PTRACE_DETACH, other.pid, NULL, NULL) == 0, "detach: %s", strerror(errno));
  CHECK(tick(&other) == 40, "the traced process was touched");

  struct target dead = spawn("/data/tick/app");
  kill(dead.pid, SIGKILL);
  waitpid(dead.pid, NULL, 0);
  snprintf(pid, sizeof pid, "%d", (int)dead.pid);
  status = run(traced, out, sizeof out);
  CHECK(status == 4 && (strstr(out, "does not exist") || strstr(out, "exited")),
        "dead pid: %d %s", status, out);

  CHECK(alive(&a) && alive(&b) && alive(&other), "a target died");
  quit(&a);
  quit(&b);
  quit(&other);
  return 0;
}
