// The x86_64 suite's live-blocked-threads-see-no-eintr on arm64 (the same
// target, from that .test file): threads blocked in read() on an empty
// pipe and in a 1.5 s nanosleep() while hp-apply attaches, borrows a
// thread for its mmap, patches and detaches: the read returns its byte,
// not EINTR, and the sleep returns 0 after at least 1.5 s. (arm64 sets an
// interrupted call up to restart before the tracer sees it; a borrowed
// sleeper sleeps its whole time again: docs/limits.md.)
#include "repl.h"

int main(void) {
  struct target t = spawn("/data/blocked/app");
  CHECK(!strcmp(ask(&t, "block"), "blocked"), "threads blocked");
  const char *r = hp_apply(t.pid, 0, "/data/blocked/fix.hp", (char *)NULL);
  CHECK(has(r, "ok", "true") && !strstr(r, "warning"), "apply: %s", r);
  CHECK(!strcmp(ask(&t, "v"), "2"), "patched");
  const char *got = ask(&t, "release");
  CHECK(!strcmp(got, "read=1 errno=0 sleep_ok=1"), "a blocked read or sleep saw the patch: %s", got);
  CHECK(alive(&t), "target died");
  return 0;
}
