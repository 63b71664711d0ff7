// The x86_64 suite's live-cxx-exceptions-cross-patch-frames on arm64, its
// C++ target static (libgcc's unwinder linked into the program) and
// dynamically linked (libgcc_s.so.1's, as on x86_64): the
// patch's .eh_frame is registered with the target's __register_frame_info
// by an injected call before the commit. Then exceptions cross the patch's
// frames every way: an old callee's through new code (running its
// cleanup) to main's handler, a catch in new code, one thrown in new code
// caught by an old caller, backtrace() through a patch frame, and worker
// threads throwing all the while; after a revert and a second apply (its
// region taken back) the tables are kept and all of it holds again.
#include "repl.h"

static void workers(struct target *t, long *caught, long *handled) {
  const char *got = ask(t, "workers");
  CHECK(sscanf(got, "%ld %ld", caught, handled) == 2, "workers: %s", got);
}

static void expect(struct target *t, const char *line, const char *want, const char *what) {
  const char *got = ask(t, line);
  CHECK(!strcmp(got, want), "%s: '%s' answered '%s', not '%s'", what, line, got, want);
}

static long new_code_runs(struct target *t, const char *depth, long destroyed) {
  char want[32];
  expect(t, "doubled 21", "42", "new doubled()");
  expect(t, "doubled x", "caught not a number: x",
         "an old callee's exception through new code to an old handler");
  snprintf(want, sizeof want, "%ld", destroyed + 2);
  expect(t, "destroyed", want, "the new code's cleanup on both paths");
  expect(t, "checked x", "-1", "a catch in new code");
  expect(t, "fails 5", "caught new", "thrown in new code, caught by an old caller");
  expect(t, "fails 500", "500", "new fails()");
  expect(t, "depth", depth, "backtrace() through a patch frame");
  long c0, h0, c1, h1;
  workers(t, &c0, &h0);
  usleep(300000);
  workers(t, &c1, &h1);
  CHECK(h1 > h0, "the workers' new code does not catch: %ld -> %ld", h0, h1);
  return destroyed + 2;
}

static void cxx(const char *dir, const char *unwinder) {
  char app[64], fix[64];
  snprintf(app, sizeof app, "%s/app", dir);
  snprintf(fix, sizeof fix, "%s/fix.hp", dir);
  printf("--- %s\n", app);
  struct target t = spawn(app);
  expect(&t, "doubled 21", "21", "old doubled()");
  expect(&t, "doubled x", "caught not a number: x", "old: the exception reaches main");
  expect(&t, "fails 5", "5", "old fails()");
  char depth[32];
  snprintf(depth, sizeof depth, "%s", ask(&t, "depth"));
  CHECK(atoi(depth) >= 4, "old: backtrace() sees %s frames", depth);
  expect(&t, "destroyed", "0", "old: no guard");
  usleep(200000);
  long caught, handled;
  workers(&t, &caught, &handled);
  CHECK(caught > 0 && handled == 0, "old: workers %ld %ld", caught, handled);

  const char *r = hp_apply(t.pid, 0, "--policy", "strict", fix, (char *)NULL);
  CHECK(has(r, "unwind_tables", "\"registered\""), "unwind tables: %s", r);
  CHECK(strstr(r, "\"unwinder\"") && strstr(r, unwinder), "registered with %s: %s", unwinder, r);
  long destroyed = new_code_runs(&t, depth, 0);

  hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
  expect(&t, "doubled 21", "21", "reverted doubled()");
  expect(&t, "checked x", "caught not a number: x", "reverted checked()");

  r = hp_apply(t.pid, 0, "--policy", "strict", fix, (char *)NULL);
  CHECK(has(r, "unwind_tables", "\"kept\""), "the region taken again keeps its tables: %s", r);
  new_code_runs(&t, depth, destroyed);
  CHECK(alive(&t), "target died");
  kill(t.pid, SIGKILL);
  waitpid(t.pid, NULL, 0);
}

int main(void) {
  cxx("/data/cxx", "/data/cxx/app");          // static: the program's own
  cxx("/data/cxx-dyn", "libgcc_s.so.1");      // dynamic: libgcc_s's
  return 0;
}
