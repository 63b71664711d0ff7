// The x86_64 suite's live-shared-library on arm64: a dynamically linked
// program (the arm64 ld.so and libc in the guest's /lib) loads librate.so;
// the patch is made from the library's two builds, and hp-apply finds the
// library in the target by its build-id and patches it there, not the
// program. Then a revert brings the old library code back.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/shlib/app");
  CHECK(!strcmp(ask(&t, "7"), "14"), "old library");
  CHECK(mapping_start(t.pid, "ld-linux-aarch64.so.1", "r-xp"), "not dynamically linked");
  const char *r = hp_apply(t.pid, 0, "/data/shlib/fix.hp", (char *)NULL);
  CHECK(strstr(r, "librate.so\""), "patched the library: %s", r);
  CHECK(has(r, "functions", "[\"lib_rate\"]"), "report: %s", r);
  const char *got = ask(&t, "7");
  CHECK(!strcmp(got, "21"), "new library code: %s", got);
  hp_apply(t.pid, 0, "--revert-all", (char *)NULL);
  CHECK(!strcmp(ask(&t, "7"), "14"), "old library code back");
  quit(&t);
  return 0;
}
