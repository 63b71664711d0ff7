// The x86_64 suite's live-stacked-and-reverted on arm64: two patches of
// tick(), both made against the original build (1 -> 10, 1 -> 100), stack:
// the second replaces the first; --list shows both active; reverting the
// first while the second is on is refused; revert goes last first and the
// original code comes back, the count kept all along.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/stacked/app");
  CHECK(!strcmp(ask(&t, "tick"), "1"), "old code");
  hp_apply(t.pid, 0, "/data/stacked/p1.hp", (char *)NULL);
  const char *got = ask(&t, "tick");
  CHECK(!strcmp(got, "11"), "first patch: wanted 11, got %s", got);
  hp_apply(t.pid, 0, "/data/stacked/p2.hp", (char *)NULL);
  got = ask(&t, "tick");
  CHECK(!strcmp(got, "111"), "second patch stacked: wanted 111, got %s", got);
  const char *r = hp_apply(t.pid, 0, "--list", (char *)NULL);
  CHECK(has(r, "id", "1") && has(r, "id", "2") && !has(r, "active", "false"),
        "list: both active: %s", r);
  r = hp_apply(t.pid, 1, "--revert", "1", (char *)NULL);
  CHECK(strstr(r, "revert it first"), "reverting the first under the second: %s", r);
  got = ask(&t, "tick");
  CHECK(!strcmp(got, "211"), "a refused revert changed something: %s", got);
  hp_apply(t.pid, 0, "--revert", "2", (char *)NULL);
  got = ask(&t, "tick");
  CHECK(!strcmp(got, "221"), "second reverted, first runs: wanted 221, got %s", got);
  hp_apply(t.pid, 0, "--revert", "1", (char *)NULL);
  got = ask(&t, "tick");
  CHECK(!strcmp(got, "222"), "original restored, state kept: wanted 222, got %s", got);
  quit(&t);
  printf("stacked: 1 -> 10 -> 100, reverted last first\n");
  return 0;
}
