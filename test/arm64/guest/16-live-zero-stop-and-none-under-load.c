// The x86_64 suite's live-zero-stop-under-load on arm64, and the `none`
// policy: 8 worker threads call compute() (x * 3, patched into x * 5) as
// fast as they can. entry-only stops no thread (0 stopped, 0 pause, all 9
// threads seen) and takes effect; after a revert, `none` stops every thread
// and checks nothing; no worker ever gets a result that is neither the old
// nor the new one, and the target lives.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/stress/app");
  CHECK(!strcmp(ask(&t, "start"), "started"), "workers");
  CHECK(!strcmp(ask(&t, "2"), "6"), "old code");
  usleep(100000);
  const char *r = hp_apply(t.pid, 0, "--policy", "entry-only", "/data/stress/fix.hp", (char *)NULL);
  CHECK(num(r, "threads_stopped") == 0 && num(r, "pause_ns") == 0, "zero-stop: %s", r);
  CHECK(num(r, "threads") >= 9, "all threads seen: %s", r);
  CHECK(!strcmp(ask(&t, "2"), "10"), "entry-only: patched");
  hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
  CHECK(!strcmp(ask(&t, "2"), "6"), "reverted");
  r = hp_apply(t.pid, 0, "--policy", "none", "/data/stress/fix.hp", (char *)NULL);
  CHECK(num(r, "threads_stopped") >= 9 && num(r, "pause_ns") > 0, "none stops all: %s", r);
  CHECK(!strcmp(ask(&t, "2"), "10"), "none: patched");
  usleep(100000);
  const char *got = ask(&t, "stop");
  long wrong = -1, calls = -1;
  sscanf(got, "%ld %ld", &wrong, &calls);
  CHECK(wrong == 0 && calls > 0, "%ld wrong of %ld calls", wrong, calls);
  CHECK(alive(&t), "target died");
  quit(&t);
  printf("under load: %ld calls, none wrong\n", calls);
  return 0;
}
