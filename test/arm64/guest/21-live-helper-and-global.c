// The x86_64 suite's live-helper-and-global on arm64: the patch brings a
// static helper (bonus) and a global (calls) the old build lacks; the new
// tick() uses both on its kept static count.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/helper/app");
  CHECK(!strcmp(ask(&t, "tick"), "1"), "old code");
  hp_apply(t.pid, 0, "/data/helper/fix.hp", (char *)NULL);
  const char *want[] = {"2", "3", "104"};
  for (int i = 0; i < 3; ++i) {
    const char *got = ask(&t, "tick");
    CHECK(!strcmp(got, want[i]), "call %d: wanted %s, got %s", i, want[i], got);
  }
  quit(&t);
  return 0;
}
