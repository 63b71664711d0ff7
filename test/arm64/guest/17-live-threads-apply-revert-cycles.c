// The x86_64 suite's live-threads-apply-revert-cycles on arm64 (6 cycles,
// not 200: TCG): 8 threads call compute() through apply/revert cycles,
// strict and entry-only alternating; every apply and revert takes effect,
// no worker ever gets a result that is neither the old nor the new one.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/stress/app");
  CHECK(!strcmp(ask(&t, "start"), "started"), "workers");
  for (int i = 0; i < 6; ++i) {
    const char *r = hp_apply(t.pid, 0, "--policy", i % 2 ? "entry-only" : "strict",
                             "/data/stress/fix.hp", (char *)NULL);
    CHECK(has(r, "ok", "true"), "apply %d: %s", i, r);
    CHECK(!strcmp(ask(&t, "2"), "10"), "patched in cycle %d", i);
    hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
    CHECK(!strcmp(ask(&t, "2"), "6"), "reverted in cycle %d", i);
  }
  const char *got = ask(&t, "stop");
  long wrong = -1, calls = -1;
  sscanf(got, "%ld %ld", &wrong, &calls);
  CHECK(wrong == 0 && calls > 0, "%ld wrong of %ld calls", wrong, calls);
  quit(&t);
  return 0;
}
