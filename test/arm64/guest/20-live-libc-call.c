// The x86_64 suite's live-libc-call on arm64: the new code calls libc
// functions the old code did not: snprintf, and strlen, an IFUNC of the
// static glibc whose resolver hp-apply runs in the target (an injected
// call on the borrowed thread) to pick the implementation.
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/libc/app");
  CHECK(!strcmp(ask(&t, "7"), "h 1"), "old code");
  const char *r = hp_apply(t.pid, 0, "/data/libc/fix.hp", (char *)NULL);
  CHECK(has(r, "ok", "true"), "apply: %s", r);
  const char *got = ask(&t, "7");
  CHECK(!strcmp(got, "n=7 len=4 9"), "libc from the patch: %s", got);
  got = ask(&t, "12345");
  CHECK(!strcmp(got, "n=12345 len=4 13"), "libc from the patch: %s", got);
  quit(&t);
  return 0;
}
