// The x86_64 suite's live-strict-return-gate-catches-busy-frame on arm64:
// handle() is nearly always running (300 ms a call, called again at once),
// so tries now and then would find it inside every time. Strict arms a
// return gate on its frame (the word of its frame where its unwind tables
// say x30 is saved), learns when it returns, and flips; the next call runs
// the new code. The same while handle() computes in its own code, its
// frame the innermost (gate-innermost: the bl before the return address
// proves the call). (handle() counts here rather than reading
// the clock: the vDSO has no unwind tables, so a try that finds the thread
// there trusts no walk and arms no gate; targets.py.) In C++, the first calls
// leave handle() by an exception, through the gate: its FDE, registered
// with the static program's own unwinder, leads to the caller's catch.
#include "repl.h"

#include <time.h>

static void naps(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void gate(const char *dir, int cxx) {
  char app[64], fix[64];
  snprintf(app, sizeof app, "%s/app", dir);
  snprintf(fix, sizeof fix, "%s/fix.hp", dir);
  printf("--- %s\n", app);
  struct target t = spawn(app);
  CHECK(!strcmp(ask(&t, "start"), "started"), "the worker runs");
  const char *r = hp_apply(t.pid, 0, "--policy", "strict", "--wait", "60s", fix,
                           (char *)NULL);
  CHECK(num(r, "return_gates") >= 1, "no return gate was armed: %s", r);
  long last = -1, calls = 0, other = 0;
  for (int i = 0; i < 100 && last != 2; ++i) {
    naps(100);
    CHECK(sscanf(ask(&t, "state"), "%ld %ld %ld", &last, &calls, &other) == 3, "state");
  }
  CHECK(last == 2, "the new code runs (last %ld)", last);
  if (cxx)
    CHECK(other == 20, "every exception was caught (%ld)", other);
  else
    CHECK(other == 0, "%ld results were neither version", other);
  CHECK(alive(&t), "the process lived");
  quit(&t);
}

int main(void) {
  gate("/data/gate", 0);
  gate("/data/gate-innermost", 0);
  gate("/data/gate-cxx", 1);
  return 0;
}
